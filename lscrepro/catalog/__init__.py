"""The catalog: one entry per plug-in, torch-free, read at plan time and by the jobs.

    cells       recurrent cells of the deep RNNs (lscrepro.models.rnn), their table titles
    tasks       what a network learns from: its class, its prepared data, its headline metric
    datasets    prepared data: the files they read, the preparing function, the demo-data maker
    models      networks, by the families that build them
    procedures  the LSC procedures: settings, pre-training, what the cost asks of them
    families    job families: grid axes, path layout, LSC procedure; the job kinds' files
    names       the names a config may use per plug-in kind (the schema's enums)
    entrypoints "module:attribute" entries: load them, name their files

Entries name code as ``"module:attribute"`` strings, so reading the catalog imports nothing.
Each kind is its own module: a job imports, and reruns on edits of, only the kinds it reads
(an rnn job the cells; no job the families). A kind's order is the order of tables and figures.
This file stays empty of code: every job imports it.
"""
