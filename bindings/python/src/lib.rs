//! The Python binding of ZiggyDB: the extension module `ziggydb._ziggydb`, which the package
//! `ziggydb` (python/ziggydb/__init__.py) re-exports with its collection helpers.
//!
//! It sits directly on the `ziggydb` crate. Values cross as Python's own types (see
//! [`value_from_py`] and [`value_to_py`]), library errors as one exception class per stable
//! error code under `ziggydb.Error` ([`Errors`]), and the GIL is released around everything
//! that may wait: opening, every write (the writer lock, the commit's fsync), `execute`,
//! `sync`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::thread::ThreadId;
use std::time::Duration;

use pyo3::exceptions::{PyException, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType,
};
use ziggydb::commands::{Policy, Reply, Session};
use ziggydb::{Durability, ErrorCode, Value, ValueType, WriteTxn};

// ---------------------------------------------------------------------------------------------
// Exceptions

/// The exception classes: `Error`, its groups, and one class per library error code.
struct Errors {
    base: Py<PyType>,
    response: Py<PyType>,
    wrong_type: Py<PyType>,
    by_code: Vec<(i32, Py<PyType>)>,
}

static ERRORS: GILOnceCell<Errors> = GILOnceCell::new();

/// `WRONG_TYPE` -> `WrongTypeError`.
fn class_name(code: ErrorCode) -> String {
    let mut out = String::new();
    for word in code.name().split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first);
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    out.push_str("Error");
    out
}

/// A new exception class `ziggydb.NAME` with the bases given, added to the module.
fn new_class<'py>(
    m: &Bound<'py, PyModule>,
    name: &str,
    doc: &str,
    bases: &[&Bound<'py, PyType>],
) -> PyResult<Py<PyType>> {
    let py = m.py();
    let dict = PyDict::new(py);
    dict.set_item("__doc__", doc)?;
    dict.set_item("__module__", "ziggydb")?;
    let class = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, dict))?
        .downcast_into::<PyType>()?;
    m.add(name, &class)?;
    Ok(class.unbind())
}

fn add_errors(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = new_class(
        m,
        "Error",
        "Base class of every ZiggyDB error. `code` and `code_name` are the library's stable \
         error code and its name.",
        &[&py.get_type::<PyException>()],
    )?;
    let base_b = base.bind(py);
    base_b.setattr("code", py.None())?;
    base_b.setattr("code_name", py.None())?;
    let corruption = new_class(
        m,
        "CorruptionError",
        "A file of the database is damaged (the error codes 20-29).",
        &[base_b],
    )?;
    let response = new_class(
        m,
        "ResponseError",
        "An error reply of a command run with execute(); the message is the reply's text \
         (`ERR ...`, `WRONGTYPE ...`).",
        &[base_b],
    )?;
    let mut by_code = Vec::new();
    let mut wrong_type = None;
    for &code in ErrorCode::ALL {
        let parent = match code.code() {
            20..=29 => corruption.bind(py),
            // A WRONGTYPE error reply and the library's WrongType error are one class.
            100 => response.bind(py),
            _ => base_b,
        };
        // Also the builtin class a Python program would catch for it.
        let builtin = match code {
            ErrorCode::Overflow => Some(py.get_type::<PyOverflowError>()),
            ErrorCode::InvalidArgument => Some(py.get_type::<PyValueError>()),
            _ => None,
        };
        let mut bases = vec![parent];
        bases.extend(builtin.as_ref());
        let doc = format!(
            "The library's error {} (code {}).",
            code.name(),
            code.code()
        );
        let class = new_class(m, &class_name(code), &doc, &bases)?;
        class.bind(py).setattr("code", code.code())?;
        class.bind(py).setattr("code_name", code.name())?;
        if code == ErrorCode::WrongType {
            wrong_type = Some(class.clone_ref(py));
        }
        by_code.push((code.code(), class));
    }
    let wrong_type = wrong_type.ok_or_else(|| PyException::new_err("no WRONG_TYPE code"))?;
    let _ = ERRORS.set(
        py,
        Errors {
            base,
            response,
            wrong_type,
            by_code,
        },
    );
    Ok(())
}

fn errors(py: Python<'_>) -> PyResult<&Errors> {
    ERRORS
        .get(py)
        .ok_or_else(|| PyException::new_err("ziggydb: module not initialised"))
}

/// The message of `e` with its causes ("I/O error on PATH: Input/output error").
fn message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A library error as the exception of its code, with the library's message.
fn to_pyerr(py: Python<'_>, e: ziggydb::Error) -> PyErr {
    let errs = match errors(py) {
        Ok(errs) => errs,
        Err(err) => return err,
    };
    let code = e.code();
    let class = errs
        .by_code
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, class)| class)
        .unwrap_or(&errs.base);
    PyErr::from_type(class.bind(py).clone(), (message(&e),))
}

/// An error reply of a command as `ResponseError` (`WrongTypeError` for `WRONGTYPE`).
fn reply_error(py: Python<'_>, text: String) -> PyErr {
    let errs = match errors(py) {
        Ok(errs) => errs,
        Err(err) => return err,
    };
    let class = if text.starts_with("WRONGTYPE") {
        &errs.wrong_type
    } else {
        &errs.response
    };
    PyErr::from_type(class.bind(py).clone(), (text,))
}

trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for ziggydb::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// Python objects the conversions use, looked up once.
struct Helpers {
    datetime: Py<PyType>,
    epoch: PyObject,
    one_ms: PyObject,
    timedelta: PyObject,
    json_loads: PyObject,
    json_dumps: PyObject,
}

static HELPERS: GILOnceCell<Helpers> = GILOnceCell::new();

fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS.get_or_try_init(py, || {
        let dt = py.import("datetime")?;
        let json = py.import("json")?;
        let datetime = dt.getattr("datetime")?.downcast_into::<PyType>()?.unbind();
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let epoch = datetime
            .bind(py)
            .call((1970, 1, 1, 0, 0, 0, 0, utc), None)?;
        let timedelta = dt.getattr("timedelta")?;
        let kw = PyDict::new(py);
        kw.set_item("milliseconds", 1)?;
        let one_ms = timedelta.call((), Some(&kw))?;
        Ok(Helpers {
            datetime,
            epoch: epoch.unbind(),
            one_ms: one_ms.unbind(),
            timedelta: timedelta.unbind(),
            json_loads: json.getattr("loads")?.unbind(),
            json_dumps: json.getattr("dumps")?.unbind(),
        })
    })
}

/// A key: `bytes` as they are, `str` as UTF-8.
fn key<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        Ok(Cow::Borrowed(b.as_bytes()))
    } else if let Ok(s) = obj.downcast::<PyString>() {
        Ok(Cow::Owned(s.to_cow()?.into_owned().into_bytes()))
    } else {
        Err(PyTypeError::new_err(format!(
            "a key must be bytes or str, not {}",
            obj.get_type().name()?
        )))
    }
}

/// The value `obj` stands for: bytes, str, bool (before int: a bool is an int in Python),
/// int (within i64), float, datetime (aware; a timestamp in ms), dict or list (JSON).
fn value_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map(Value::Int).map_err(|_| {
            PyOverflowError::new_err(format!(
                "{} does not fit a ZiggyDB int (64-bit signed: -2**63 to 2**63-1)",
                obj.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        });
    }
    if let Ok(f) = obj.downcast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    let h = helpers(py)?;
    if obj.is_instance(h.datetime.bind(py))? {
        return Ok(Value::Timestamp(timestamp_ms(obj, h)?));
    }
    if obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyList>() {
        let kw = PyDict::new(py);
        kw.set_item("separators", (",", ":"))?;
        kw.set_item("allow_nan", false)?;
        kw.set_item("ensure_ascii", false)?;
        let text: String = h.json_dumps.bind(py).call((obj,), Some(&kw))?.extract()?;
        return Ok(Value::Json(text));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a {}: a value is bytes, str, int, float, bool, datetime, dict or list",
        obj.get_type().name()?
    )))
}

/// An aware datetime as milliseconds since the Unix epoch, exactly.
fn timestamp_ms(obj: &Bound<'_, PyAny>, h: &Helpers) -> PyResult<i64> {
    let py = obj.py();
    if obj.call_method0("utcoffset")?.is_none() {
        return Err(PyValueError::new_err(
            "a naive datetime has no time zone: give an aware one (tzinfo=datetime.timezone.utc)",
        ));
    }
    let delta = obj.call_method1("__sub__", (h.epoch.bind(py),))?;
    let ms = delta.call_method1("__floordiv__", (h.one_ms.bind(py),))?;
    ms.extract::<i64>()
        .map_err(|_| PyOverflowError::new_err("datetime out of range for a timestamp"))
}

/// A stored value as its Python value.
fn value_to_py(py: Python<'_>, v: Value) -> PyResult<PyObject> {
    Ok(match v {
        Value::Bytes(b) => PyBytes::new(py, &b).into_any().unbind(),
        Value::String(s) => PyString::new(py, &s).into_any().unbind(),
        Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::Float(f) => PyFloat::new(py, f).into_any().unbind(),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Value::Timestamp(ms) => {
            let h = helpers(py)?;
            let kw = PyDict::new(py);
            kw.set_item("milliseconds", ms)?;
            let delta = h.timedelta.bind(py).call((), Some(&kw))?;
            h.epoch.bind(py).call_method1("__add__", (delta,))?.unbind()
        }
        Value::Json(text) => helpers(py)?.json_loads.bind(py).call1((text,))?.unbind(),
    })
}

/// A value read in place: bytes and strings are copied once, straight into Python's object.
fn value_ref_to_py(py: Python<'_>, v: &ziggydb::ValueRef) -> PyResult<PyObject> {
    match v.value_type() {
        ValueType::Bytes => Ok(PyBytes::new(py, v.as_bytes()).into_any().unbind()),
        ValueType::String => match std::str::from_utf8(v.as_bytes()) {
            Ok(s) => Ok(PyString::new(py, s).into_any().unbind()),
            Err(_) => value_to_py(py, v.to_value().or_raise(py)?),
        },
        _ => value_to_py(py, v.to_value().or_raise(py)?),
    }
}

/// One argument of `execute`: bytes, str (UTF-8), int, float (its shortest repr).
fn arg_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(Cow::Owned(s.to_cow()?.into_owned().into_bytes()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "a bool is not a command argument: pass 1 or 0, or \"true\" or \"false\"",
        ));
    }
    if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        return Ok(Cow::Owned(obj.repr()?.to_cow()?.into_owned().into_bytes()));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "a command argument is bytes, str, int or float, not {}",
        obj.get_type().name()?
    )))
}

/// A command's reply as Python values; an error reply raised.
fn reply_to_py(py: Python<'_>, reply: Reply, decode: bool) -> PyResult<PyObject> {
    let bulk = |b: &[u8]| -> PyResult<PyObject> {
        if decode {
            Ok(PyString::new(py, std::str::from_utf8(b)?)
                .into_any()
                .unbind())
        } else {
            Ok(PyBytes::new(py, b).into_any().unbind())
        }
    };
    Ok(match reply {
        Reply::Status(s) => PyString::new(py, &s).into_any().unbind(),
        Reply::Error(text) => return Err(reply_error(py, text)),
        Reply::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Reply::Bulk(b) => bulk(&b)?,
        Reply::Mapped(v) => bulk(v.as_bytes())?,
        Reply::Nil | Reply::NilArray => py.None(),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(reply_to_py(py, item, decode)?)?;
            }
            list.into_any().unbind()
        }
        Reply::Double(f) => PyFloat::new(py, f).into_any().unbind(),
        Reply::Boolean(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Reply::Map(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                dict.set_item(reply_to_py(py, k, decode)?, reply_to_py(py, v, decode)?)?;
            }
            dict.into_any().unbind()
        }
        Reply::Verbatim { text, .. } => PyString::new(py, &String::from_utf8_lossy(&text))
            .into_any()
            .unbind(),
    })
}

/// Commands that hold state across calls of one connection: a `Db` runs each `execute` on
/// whichever session is free, so these have no meaning there (`with db.transaction()` is
/// the transaction).
const CONNECTION_COMMANDS: &[&str] = &[
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "HELLO",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
];

fn refused_command(args: &[Cow<'_, [u8]>]) -> Option<String> {
    let name = args.first()?;
    CONNECTION_COMMANDS
        .iter()
        .find(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|c| {
            format!(
                "ERR {c} is not available through execute(): use `with db.transaction() as tx:`"
            )
        })
}

// ---------------------------------------------------------------------------------------------
// The handle

/// The transactions open in this process: the directory of each and the thread that began
/// it. A write on such a thread through any handle on that directory, outside the
/// transaction, would wait for the writer lock its own transaction holds (every handle on a
/// directory in a process shares one state, and so one lock); it fails at once with
/// `TxnActiveError` instead, as inside the library's transaction closure.
static OPEN_TXNS: Mutex<Vec<(PathBuf, ThreadId)>> = Mutex::new(Vec::new());
/// The length of `OPEN_TXNS`, read without its lock.
static OPEN_TXN_COUNT: AtomicUsize = AtomicUsize::new(0);

fn open_txns() -> std::sync::MutexGuard<'static, Vec<(PathBuf, ThreadId)>> {
    OPEN_TXNS.lock().unwrap_or_else(|p| p.into_inner())
}

fn txn_begun(dir: &Path) {
    let mut v = open_txns();
    v.push((dir.to_path_buf(), std::thread::current().id()));
    OPEN_TXN_COUNT.store(v.len(), Ordering::Release);
}

fn txn_ended(dir: &Path, thread: ThreadId) {
    let mut v = open_txns();
    if let Some(i) = v.iter().position(|(d, t)| *t == thread && d == dir) {
        v.swap_remove(i);
    }
    OPEN_TXN_COUNT.store(v.len(), Ordering::Release);
}

fn txn_open_here(dir: &Path) -> bool {
    if OPEN_TXN_COUNT.load(Ordering::Acquire) == 0 {
        return false;
    }
    let me = std::thread::current().id();
    open_txns().iter().any(|(d, t)| *t == me && d == dir)
}

/// `TxnActiveError` for a write on a thread whose transaction holds the writer lock.
fn txn_active(py: Python<'_>, db: &ziggydb::Db) -> PyErr {
    let class = errors(py).ok().and_then(|e| {
        e.by_code
            .iter()
            .find(|(c, _)| *c == ErrorCode::TxnActive.code())
            .map(|(_, class)| class.bind(py).clone())
    });
    let text = format!(
        "this thread has a write transaction open on {}: write through it (tx.set, \
         tx.execute, ...) or end it first, since this write would wait for the lock it holds",
        db.path().display()
    );
    match class {
        Some(class) => PyErr::from_type(class, (text,)),
        None => PyException::new_err(text),
    }
}

/// A database handle: `ziggydb.open(path, ...)`. Shareable across threads.
#[pyclass(module = "ziggydb._ziggydb", name = "Db", frozen, subclass)]
struct PyDb {
    db: RwLock<Option<ziggydb::Db>>,
    path: String,
    decode: bool,
    /// Idle sessions for `execute` (each switched to RESP3 for maps and doubles).
    sessions: Mutex<Vec<Session>>,
}

fn durability(name: &str, max_delay: Option<f64>) -> PyResult<Durability> {
    match name {
        "immediate" if max_delay.is_some() => Err(PyValueError::new_err(
            "max_delay is for durability=\"batched\": an immediate commit is on disk when it returns",
        )),
        "immediate" => Ok(Durability::Immediate),
        "batched" => Ok(Durability::Batched {
            max_delay: seconds("max_delay", max_delay.unwrap_or(0.05))?,
        }),
        other => Err(PyValueError::new_err(format!(
            "durability must be \"immediate\" or \"batched\", not {other:?}"
        ))),
    }
}

fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a finite, non-negative number of seconds, not {s}"
        ))
    })
}

impl PyDb {
    fn handle(&self) -> PyResult<ziggydb::Db> {
        match self.db.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
        .ok_or_else(|| PyValueError::new_err("the database is closed"))
    }

    /// The handle for a write: refused at once on a thread whose own transaction holds the
    /// writer lock.
    fn writer(&self, py: Python<'_>) -> PyResult<ziggydb::Db> {
        let db = self.handle()?;
        if txn_open_here(db.path()) {
            return Err(txn_active(py, &db));
        }
        Ok(db)
    }

    fn session(&self, db: &ziggydb::Db) -> Session {
        if let Some(s) = self.sessions.lock().ok().and_then(|mut v| v.pop()) {
            return s;
        }
        let mut s = Session::new(db, Policy::trusted());
        let _ = s.execute(&[b"HELLO", b"3"]);
        s
    }

    fn give_back(&self, s: Session) {
        if let Ok(mut v) = self.sessions.lock() {
            if v.len() < 64 {
                v.push(s);
            }
        }
    }
}

fn expiry_ms(
    py: Python<'_>,
    ex: Option<&Bound<'_, PyAny>>,
    px: Option<i64>,
) -> PyResult<Option<u64>> {
    let ms = match (ex, px) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err("give ex or px, not both"));
        }
        (None, Some(px)) => px as f64,
        (Some(ex), None) => {
            let h = helpers(py)?;
            if ex.is_instance(h.timedelta.bind(py))? {
                ex.call_method0("total_seconds")?.extract::<f64>()? * 1000.0
            } else {
                ex.extract::<f64>().map_err(|_| {
                    PyTypeError::new_err("ex is a number of seconds or a datetime.timedelta")
                })? * 1000.0
            }
        }
    };
    if !(ms.is_finite() && ms > 0.0) {
        return Err(PyValueError::new_err(format!(
            "the expiry must be positive, not {} ms",
            ms
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Ok(Some(now.saturating_add(ms.ceil() as u64)))
}

#[pymethods]
impl PyDb {
    #[new]
    #[pyo3(signature = (path, *, durability="immediate", max_delay=None, lock_timeout=Some(10.0),
        read_only=false, segment_size=None, auto_compact=true, active_expiry=true, mode=None,
        decode_responses=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        durability: &str,
        max_delay: Option<f64>,
        lock_timeout: Option<f64>,
        read_only: bool,
        segment_size: Option<u64>,
        auto_compact: bool,
        active_expiry: bool,
        mode: Option<u32>,
        decode_responses: bool,
    ) -> PyResult<Self> {
        let mut opts = ziggydb::Db::options()
            .durability(self::durability(durability, max_delay)?)
            .lock_timeout(match lock_timeout {
                Some(s) => Some(seconds("lock_timeout", s)?),
                None => None,
            })
            .read_only(read_only);
        if let Some(bytes) = segment_size {
            opts = opts.segment_size(bytes);
        }
        if !auto_compact {
            opts = opts.auto_compact(false, 0.5, 16 << 20);
        }
        if !active_expiry {
            opts = opts.active_expiry(None);
        }
        if let Some(mode) = mode {
            opts = opts.mode(mode);
        }
        let shown = path.display().to_string();
        let db = py.allow_threads(|| opts.open(&path)).or_raise(py)?;
        Ok(PyDb {
            db: RwLock::new(Some(db)),
            path: shown,
            decode: decode_responses,
            sessions: Mutex::new(Vec::new()),
        })
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.handle().is_err()
    }

    /// Whether `execute` gives bulk replies as str (`decode_responses=True`).
    #[getter]
    fn decode_responses(&self) -> bool {
        self.decode
    }

    /// Closes the handle (other handles and processes go on); idempotent.
    fn close(&self, py: Python<'_>) {
        let db = match self.db.write() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let sessions = self
            .sessions
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        py.allow_threads(move || {
            drop(sessions);
            drop(db);
        });
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<ziggydb.Db {:?}{}>",
            self.path,
            if self.closed() { " closed" } else { "" }
        )
    }

    /// The value of `key` as its Python value, or None.
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let k = self::key(key)?;
        let db = self.handle()?;
        match db.get(&k).or_raise(py)? {
            Some(v) => value_ref_to_py(py, &v),
            None => Ok(py.None()),
        }
    }

    /// Stores `value` under `key`, its type from the Python type; `ex` seconds (or a
    /// timedelta) or `px` milliseconds to expire.
    #[pyo3(signature = (key, value, ex=None, px=None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ex: Option<&Bound<'_, PyAny>>,
        px: Option<i64>,
    ) -> PyResult<()> {
        let k = self::key(key)?;
        let v = value_from_py(value)?;
        let at = expiry_ms(py, ex, px)?;
        let db = self.writer(py)?;
        py.allow_threads(|| match at {
            None => db.set(&k, v),
            Some(at) => db.transaction(|tx| tx.set_with_expiry(&k, v, Some(at))),
        })
        .or_raise(py)
    }

    /// Deletes `key`; True if it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = self::key(key)?;
        let db = self.writer(py)?;
        py.allow_threads(|| db.delete(&k)).or_raise(py)
    }

    /// Adds `by` to the integer at `key` (0 if missing); the new value.
    #[pyo3(signature = (key, by=1))]
    fn incr(&self, py: Python<'_>, key: &Bound<'_, PyAny>, by: i64) -> PyResult<i64> {
        let k = self::key(key)?;
        let db = self.writer(py)?;
        py.allow_threads(|| db.incr_by(&k, by)).or_raise(py)
    }

    /// True if `key` exists.
    fn exists(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = self::key(key)?;
        self.handle()?.exists(&k).or_raise(py)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.exists(py, key)
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.handle()?.len() as usize)
    }

    /// Every key (matching the glob `pattern`, as Redis KEYS), as bytes (str with
    /// decode_responses).
    #[pyo3(signature = (pattern=None))]
    fn keys(&self, py: Python<'_>, pattern: Option<&Bound<'_, PyAny>>) -> PyResult<PyObject> {
        let p = match pattern {
            Some(p) => self::key(p)?,
            None => Cow::Borrowed(&b"*"[..]),
        };
        let db = self.handle()?;
        let keys = py.allow_threads(|| db.keys_matching(&p)).or_raise(py)?;
        let list = PyList::empty(py);
        for k in keys {
            list.append(reply_to_py(py, Reply::Bulk(k), self.decode)?)?;
        }
        Ok(list.into_any().unbind())
    }

    /// Runs one command (`db.execute("ZADD", "board", 10, "ada")`) and returns its reply as
    /// Python values; an error reply is raised as `ResponseError`.
    #[pyo3(signature = (*args))]
    fn execute(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        let items: Vec<Bound<'_, PyAny>> = args.iter().collect();
        let argv = items.iter().map(arg_bytes).collect::<PyResult<Vec<_>>>()?;
        if let Some(text) = refused_command(&argv) {
            return Err(reply_error(py, text));
        }
        if let Some(text) = pubsub_command(&argv) {
            return Err(reply_error(py, text));
        }
        let db = self.handle()?;
        let writes = writes(&argv);
        if writes && txn_open_here(db.path()) {
            return Err(txn_active(py, &db));
        }
        let mut session = self.session(&db);
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
        // A read never waits for a writer: it keeps the GIL, which costs less than giving it
        // up and taking it back. A write may wait for the writer lock and the fsync.
        let reply = if blocks(&argv) {
            run_interruptible(py, &mut session, &refs)
        } else if writes {
            Ok(py.allow_threads(|| session.execute(&refs)))
        } else {
            Ok(session.execute(&refs))
        };
        self.give_back(session);
        reply_to_py(py, reply?, self.decode)
    }

    /// A Pub/Sub subscriber of its own (`ziggydb.PubSub` wraps it).
    fn _pubsub(&self) -> PyResult<PyPubSub> {
        let db = self.handle()?;
        Ok(PyPubSub {
            session: Mutex::new(Some(Session::new(&db, Policy::trusted()))),
            decode: self.decode,
        })
    }

    /// Begins a write transaction (waiting for the writer lock) and returns it; use it as
    /// `with db.transaction() as tx:`, which commits at the end of the block and rolls back
    /// if the block raises.
    fn transaction(slf: &Bound<'_, Self>) -> PyResult<PyTxn> {
        PyTxn::begin(slf)
    }

    /// Forces every commit so far to stable storage (for durability="batched").
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.handle()?;
        py.allow_threads(|| db.sync()).or_raise(py)
    }
}

/// Whether a command may write (and so wait for the writer lock, or block): any but the
/// reads and those that need no database (`PING`, `ECHO`, `INFO`).
fn writes(argv: &[Cow<'_, [u8]>]) -> bool {
    argv.first()
        .and_then(|name| ziggydb::commands::lookup(name))
        .is_some_and(|spec| {
            !matches!(
                spec.kind,
                ziggydb::commands::Kind::Read | ziggydb::commands::Kind::Other
            )
        })
}

/// Whether a command may wait for another process (`BLPOP` and the other blocking pops).
fn blocks(argv: &[Cow<'_, [u8]>]) -> bool {
    const BLOCKING: [&str; 8] = [
        "BLPOP",
        "BRPOP",
        "BLMOVE",
        "BRPOPLPUSH",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
    ];
    argv.first().is_some_and(|name| {
        BLOCKING
            .iter()
            .any(|b| name.eq_ignore_ascii_case(b.as_bytes()))
    })
}

/// The Pub/Sub commands: a subscription lives in one session, and `execute` runs each
/// command on whichever is free, so they go through `db.pubsub()`.
fn pubsub_command(argv: &[Cow<'_, [u8]>]) -> Option<String> {
    let name = argv.first()?;
    ["SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE"]
        .iter()
        .find(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|c| format!("ERR {c} is not available through execute(): use db.pubsub()"))
}

/// How often a wait without the GIL comes back to let Python run its signal handlers
/// (Ctrl-C raises `KeyboardInterrupt` within this time).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs a blocking command on a thread of its own while this one, every [`SIGNAL_CHECK`],
/// runs Python's signal handlers: one that raises (Ctrl-C's `KeyboardInterrupt`) cancels the
/// command, which then ends as if its timeout had passed, and the exception propagates,
/// unless the command popped an element meanwhile: that reply is returned instead.
fn run_interruptible(py: Python<'_>, session: &mut Session, refs: &[&[u8]]) -> PyResult<Reply> {
    let token = ziggydb::CancelToken::new();
    session.set_cancel(token.clone());
    let done: (Mutex<Option<Reply>>, std::sync::Condvar) = Default::default();
    std::thread::scope(|scope| {
        let done = &done;
        scope.spawn(move || {
            let reply = session.execute(refs);
            *done.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reply);
            done.1.notify_all();
        });
        let wait = |limit: Option<Duration>| {
            let mut g = done.0.lock().unwrap_or_else(|p| p.into_inner());
            match limit {
                Some(limit) => {
                    if g.is_none() {
                        g = done
                            .1
                            .wait_timeout(g, limit)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
                None => {
                    while g.is_none() {
                        g = done.1.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
            g.take()
        };
        loop {
            if let Some(reply) = py.allow_threads(|| wait(Some(SIGNAL_CHECK))) {
                return Ok(reply);
            }
            if let Err(e) = py.check_signals() {
                token.cancel();
                return match py.allow_threads(|| wait(None)) {
                    // It popped in the instant of the signal: the element is the caller's,
                    // not lost with the exception (which is dropped).
                    Some(reply) if !matches!(reply, Reply::Nil | Reply::NilArray) => Ok(reply),
                    _ => Err(e),
                };
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Pub/Sub

/// A subscriber: its own session, subscribed with `execute("SUBSCRIBE", ...)`, read with
/// `next`. The package's `ziggydb.PubSub` gives it redis-py's shape.
#[pyclass(module = "ziggydb._ziggydb", name = "_PubSub", frozen)]
struct PyPubSub {
    session: Mutex<Option<Session>>,
    decode: bool,
}

impl PyPubSub {
    fn take(&self) -> PyResult<Session> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                PyValueError::new_err("the subscriber is closed or in use by another thread")
            })
    }

    fn give_back(&self, s: Session) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
    }
}

#[pymethods]
impl PyPubSub {
    /// Runs a Pub/Sub command and returns its replies, one per channel or pattern (Redis
    /// replies to `SUBSCRIBE a b` twice), with any message already waiting after them.
    #[pyo3(signature = (*args))]
    fn execute(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        let items: Vec<Bound<'_, PyAny>> = args.iter().collect();
        let argv = items.iter().map(arg_bytes).collect::<PyResult<Vec<_>>>()?;
        let mut session = self.take()?;
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
        let replies = py.allow_threads(|| {
            let mut replies = vec![session.execute(&refs)];
            while let Some(r) = session.next_push(Some(Duration::ZERO)) {
                replies.push(r);
            }
            replies
        });
        self.give_back(session);
        let list = PyList::empty(py);
        for r in replies {
            list.append(reply_to_py(py, r, self.decode)?)?;
        }
        Ok(list.into_any().unbind())
    }

    /// The next message (`[kind, channel, data]` or `[b"pmessage", pattern, channel,
    /// data]`), waiting up to `timeout` seconds (None: until one comes); None if none came.
    /// The GIL is released while it waits, and Ctrl-C ends the wait.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyObject> {
        let deadline = match timeout {
            Some(t) => Some(std::time::Instant::now() + seconds("timeout", t)?),
            None => None,
        };
        let mut session = self.take()?;
        let got = loop {
            let step = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            if let Some(r) = py.allow_threads(|| session.next_push(Some(step))) {
                break Ok(Some(r));
            }
            if let Err(e) = py.check_signals() {
                break Err(e);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                break Ok(None);
            }
        };
        self.give_back(session);
        match got? {
            Some(r) => reply_to_py(py, r, self.decode),
            None => Ok(py.None()),
        }
    }

    /// Whether the subscriber has a channel or pattern.
    #[getter]
    fn subscribed(&self) -> bool {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|s| s.is_subscribed())
    }

    /// Ends every subscription (the session is dropped).
    fn close(&self) {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions

/// A write transaction: `with db.transaction() as tx:`. It holds the writer lock of every
/// process until it commits or rolls back.
#[pyclass(module = "ziggydb._ziggydb", name = "Transaction", frozen, subclass)]
struct PyTxn {
    tx: Mutex<Option<WriteTxn>>,
    db: ziggydb::Db,
    decode: bool,
    thread: ThreadId,
}

impl PyTxn {
    fn begin(owner: &Bound<'_, PyDb>) -> PyResult<Self> {
        let py = owner.py();
        let this = owner.get();
        let db = this.writer(py)?;
        let tx = py.allow_threads(|| db.begin_write()).or_raise(py)?;
        txn_begun(db.path());
        Ok(PyTxn {
            tx: Mutex::new(Some(tx)),
            db,
            decode: this.decode,
            thread: std::thread::current().id(),
        })
    }

    fn with<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut WriteTxn) -> ziggydb::Result<T>,
    ) -> PyResult<T> {
        let mut g = self
            .tx
            .lock()
            .map_err(|_| PyValueError::new_err("the transaction failed in another thread"))?;
        let tx = g.as_mut().ok_or_else(|| {
            PyValueError::new_err("the transaction has ended (committed or rolled back)")
        })?;
        f(tx).or_raise(py)
    }

    fn end(&self) -> Option<WriteTxn> {
        let tx = match self.tx.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        if tx.is_some() {
            txn_ended(self.db.path(), self.thread);
        }
        tx
    }
}

impl Drop for PyTxn {
    fn drop(&mut self) {
        // Rolled back (the WriteTxn's own drop) if never committed.
        let _ = self.end();
    }
}

#[pymethods]
impl PyTxn {
    #[new]
    fn new(db: &Bound<'_, PyDb>) -> PyResult<Self> {
        PyTxn::begin(db)
    }

    /// The value of `key`, as the transaction sees it (its own writes included).
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let k = self::key(key)?;
        match self.with(py, |tx| tx.get(&k))? {
            Some(v) => value_to_py(py, v),
            None => Ok(py.None()),
        }
    }

    #[pyo3(signature = (key, value, ex=None, px=None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ex: Option<&Bound<'_, PyAny>>,
        px: Option<i64>,
    ) -> PyResult<()> {
        let k = self::key(key)?;
        let v = value_from_py(value)?;
        let at = expiry_ms(py, ex, px)?;
        self.with(py, |tx| tx.set_with_expiry(&k, v, at))
    }

    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = self::key(key)?;
        self.with(py, |tx| tx.delete(&k))
    }

    #[pyo3(signature = (key, by=1))]
    fn incr(&self, py: Python<'_>, key: &Bound<'_, PyAny>, by: i64) -> PyResult<i64> {
        let k = self::key(key)?;
        self.with(py, |tx| tx.incr_by(&k, by))
    }

    fn exists(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = self::key(key)?;
        self.with(py, |tx| tx.exists(&k))
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.exists(py, key)
    }

    /// Runs one command inside the transaction (its reads see the transaction's writes);
    /// the reply as `Db.execute` gives it. A command that fails is raised and leaves the
    /// transaction as it was before it.
    #[pyo3(signature = (*args))]
    fn execute(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        let items: Vec<Bound<'_, PyAny>> = args.iter().collect();
        let argv = items.iter().map(arg_bytes).collect::<PyResult<Vec<_>>>()?;
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
        let db = &self.db;
        let reply = self.with(py, |tx| {
            // `execute_in` replies as over RESP2; `Db.execute`'s sessions speak RESP3.
            Ok(ziggydb::commands::to_resp3(
                &refs,
                ziggydb::commands::execute_in(db, tx, &refs),
            ))
        })?;
        reply_to_py(py, reply, self.decode)
    }

    /// True until commit() or rollback() (or the end of the with block).
    #[getter]
    fn active(&self) -> bool {
        self.tx.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Makes the transaction's writes visible to every process (and durable, by the
    /// database's durability), all at once.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        let tx = self.end().ok_or_else(|| {
            PyValueError::new_err("the transaction has ended (committed or rolled back)")
        })?;
        py.allow_threads(|| tx.commit()).or_raise(py)
    }

    /// Discards the transaction's writes; does nothing if it has ended.
    fn rollback(&self) {
        if let Some(tx) = self.end() {
            tx.rollback();
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.rollback();
        } else if self.active() {
            self.commit(py)?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ziggydb.Transaction on {:?}{}>",
            self.db.path().display().to_string(),
            if self.active() { "" } else { " ended" }
        )
    }
}

/// The Rust side of bench.py: the calls it times from Python, made from Rust in this same
/// build of the library, `n` each (writes `n / 4`), best of three rounds; ns per call by
/// name. `get` is `Db::get` of a 16-byte string with its bytes read, `get_value` an owned
/// `Value`, `execute_get` `GET` through a RESP3 session, `set` and `incr` with batched
/// durability.
#[pyfunction]
fn _rust_baseline(
    py: Python<'_>,
    path: std::path::PathBuf,
    n: u64,
) -> PyResult<Vec<(String, f64)>> {
    use std::hint::black_box;
    use std::time::Instant;
    fn best_of_three(n: u64, mut f: impl FnMut()) -> f64 {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..n {
                    f();
                }
                t.elapsed().as_nanos() as f64 / n as f64
            })
            .fold(f64::INFINITY, f64::min)
    }
    let run = || -> ziggydb::Result<Vec<(String, f64)>> {
        let db = ziggydb::Db::options()
            .durability(Durability::Batched {
                max_delay: Duration::from_millis(50),
            })
            .open(&path)?;
        let key = b"bench:key";
        db.set(key, "0123456789abcdef")?;
        let mut session = Session::new(&db, Policy::trusted());
        session.execute(&[b"HELLO", b"3"]);
        let n = n.max(1);
        let writes = (n / 4).max(1);
        Ok(vec![
            (
                "get".into(),
                best_of_three(n, || {
                    black_box(db.get(key).ok().flatten().map(|v| v.as_bytes().len()));
                }),
            ),
            (
                "get_value".into(),
                best_of_three(n, || {
                    black_box(db.get_value(key).ok());
                }),
            ),
            (
                "execute_get".into(),
                best_of_three(n, || {
                    black_box(session.execute(&[b"GET", key]));
                }),
            ),
            (
                "set".into(),
                best_of_three(writes, || {
                    black_box(db.set(b"bench:set", "0123456789abcdef").ok());
                }),
            ),
            (
                "incr".into(),
                best_of_three(writes, || {
                    black_box(db.incr_by(b"bench:incr", 1).ok());
                }),
            ),
        ])
    };
    py.allow_threads(run).or_raise(py)
}

#[pymodule]
fn _ziggydb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_errors(m)?;
    m.add_class::<PyDb>()?;
    m.add_class::<PyTxn>()?;
    m.add_class::<PyPubSub>()?;
    m.add_function(wrap_pyfunction!(_rust_baseline, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
