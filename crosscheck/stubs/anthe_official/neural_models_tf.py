"""``HSoftPOS`` placeholder (see the package docstring: unused by every exercised path)."""


class HSoftPOS:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("anthe_official is a stub in crosscheck/stubs: HSoftPOS "
                                  "(comments 'hsoftpos') is not available to the goldens")
