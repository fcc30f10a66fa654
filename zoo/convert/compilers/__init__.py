"""Accelerator compilers, one module each, behind one small interface:

    find_compiler() -> (path, version)            CompilerMissing says how to install it
    command(path, version, model, out_dir, ...)   the exact argument list, recorded with the result
    compile_model(model, out_dir, ...)            -> (compiled file, report with .to_dict())

`edgetpu` runs Coral's edgetpu_compiler (x86-64 Linux, Coral's apt repository); `vela` runs Arm's Vela for the
Ethos-U65 of the i.MX 93 (pip). Vela is deterministic, which is what lets pinned i.MX 93 files be rebuilt.
"""
