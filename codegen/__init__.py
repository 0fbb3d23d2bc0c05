"""LLVM code generation for lazyarr kernels (installed as ``lazyarr.codegen``)."""

if __name__ != "lazyarr.codegen":
    raise ImportError("import this package as lazyarr.codegen, not as a top-level package")
