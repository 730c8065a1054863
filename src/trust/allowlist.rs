//! What a pickle may import: the allowlist of callables PyTorch, NumPy, scikit-learn and
//! joblib checkpoints need, and how anything else is judged — `dangerous` (commands, code
//! evaluation, imports, files, sockets) or `unknown` (nobody vouched for it). An allowlist,
//! not a denylist: what was not thought of is not passed.

/// Callables checkpoints legitimately need (exact `module.name`).
const ALLOWED: &[&str] = &[
    "collections.OrderedDict",
    "collections.defaultdict",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.slice",
    "builtins.complex",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.str",
    "builtins.bytes",
    "builtins.object",
    "__builtin__.set",
    "__builtin__.object",
    "copy_reg._reconstructor",
    "copyreg._reconstructor",
    "_codecs.encode",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_nested_tensor",
    "torch._tensor._rebuild_from_type",
    "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout",
    "torch.nn.parameter.Parameter",
    "torch.device",
    "torch.Size",
    "torch.Tensor",
    "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage",
    "torch.storage._TypedStorage",
    "torch.storage._LegacyStorage",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle.NDArrayWrapper",
    "sklearn.utils._bunch.Bunch",
];

/// Modules whose every name is a dtype, a storage class or a layout (`torch.float32`,
/// `torch.FloatStorage`, `numpy.dtypes.Float32DType`): values, not code.
fn allowed_family(module: &str, name: &str) -> bool {
    match module {
        "torch" => {
            name.ends_with("Storage")
                || matches!(
                    name,
                    "float16"
                        | "float32"
                        | "float64"
                        | "bfloat16"
                        | "half"
                        | "float"
                        | "double"
                        | "int8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "uint8"
                        | "uint16"
                        | "uint32"
                        | "uint64"
                        | "bool"
                        | "complex64"
                        | "complex128"
                        | "long"
                        | "int"
                        | "short"
                        | "float8_e4m3fn"
                        | "float8_e5m2"
                        | "strided"
                        | "sparse_coo"
                        | "sparse_csr"
                        | "per_tensor_affine"
                        | "per_channel_affine"
                        | "contiguous_format"
                        | "channels_last"
                        | "preserve_format"
                )
        }
        "numpy.dtypes" => name.ends_with("DType"),
        "numpy.random._pickle" => name.starts_with("__") && name.ends_with("_ctor"),
        "numpy.random._mt19937" => name == "MT19937",
        "numpy.random._pcg64" => name == "PCG64",
        // scikit-learn estimators and their parts: classes (by convention capitalized),
        // whose unpickling sets state, not runs arbitrary code.
        m if m == "sklearn" || m.starts_with("sklearn.") => {
            name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        }
        m if m.starts_with("scipy.sparse.") => matches!(
            name,
            "csr_matrix" | "csc_matrix" | "coo_matrix" | "csr_array" | "csc_array" | "coo_array"
        ),
        _ => false,
    }
}

/// Callables that run commands, evaluate code, import, open files or sockets.
fn dangerous(module: &str, name: &str) -> bool {
    let m = module.split('.').next().unwrap_or(module);
    matches!(
        m,
        "os" | "posix"
            | "nt"
            | "subprocess"
            | "runpy"
            | "importlib"
            | "socket"
            | "shutil"
            | "webbrowser"
            | "ctypes"
            | "pty"
            | "code"
            | "codeop"
            | "commands"
            | "sys"
            | "marshal"
            | "pickle"
            | "_pickle"
            | "dill"
            | "cloudpickle"
            | "asyncio"
            | "multiprocessing"
            | "http"
            | "urllib"
            | "requests"
            | "platform"
            | "pip"
            | "bdb"
            | "pdb"
            | "timeit"
            | "operator"
            | "functools"
            | "types"
    ) || (matches!(module, "builtins" | "__builtin__")
        && matches!(
            name,
            "eval"
                | "exec"
                | "compile"
                | "open"
                | "__import__"
                | "getattr"
                | "setattr"
                | "delattr"
                | "globals"
                | "locals"
                | "vars"
                | "input"
                | "breakpoint"
                | "apply"
                | "execfile"
                | "file"
        ))
        || (module == "torch" && name == "load")
        || (module.starts_with("torch.") && (name == "load" || name == "_load_from_bytes"))
        || (module == "numpy" && name == "load")
}

/// How a callable is judged: None when allowed.
pub(crate) fn judge(callable: &str) -> Option<&'static str> {
    let (module, name) = callable.rsplit_once('.').unwrap_or(("", callable));
    if ALLOWED.contains(&callable) || allowed_family(module, name) {
        None
    } else if dangerous(module, name) {
        Some("dangerous")
    } else {
        Some("unknown")
    }
}
