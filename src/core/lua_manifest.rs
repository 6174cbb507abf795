//! Reading a single-file plugin's manifest from its source, without running it.
//!
//! A single-file plugin is a `.lua` file that returns its plugin table, whose
//! `manifest` field holds the manifest as a table constructor. The manager
//! needs manifests before it loads anything (to list plugins and resolve
//! dependencies), and running a file would run its top-level code too, so the
//! file is parsed with `full_moon` and the constructor is found and converted
//! statically. These shapes are understood:
//!
//! - `return { manifest = { ... }, ... }`
//! - `local M = { manifest = { ... } } ... return M`
//! - `local M = {} ... M.manifest = { ... } ... return M` (or `M["manifest"]`)
//! - any of them with a local holding the manifest: `local manifest = { ... }`
//!   and then `manifest = manifest`
//!
//! Only top-level statements count (what a block or a function does depends
//! on running it), and for each name the last assignment before the `return`
//! wins. The manifest itself must be literal data: strings, numbers, booleans,
//! `nil` and nested constructors; anything that needs evaluating is an error
//! naming the field and its line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::thread;

use full_moon::ast::{
    Block, Expression, Field, Index, LastStmt, Prefix, Stmt, Suffix, TableConstructor, UnOp, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{StringLiteralQuoteType, Symbol, TokenReference, TokenType};
use serde_json::{Map, Number, Value};

const NO_MANIFEST: &str = "the file does not return a table with a `manifest` field";

/// How deep tables may nest inside the manifest; real manifests need 3 or 4.
const MAX_TABLE_DEPTH: usize = 64;

/// Syntactic nesting allowed in the whole file. Lua and LuaJIT both stop at
/// about 200 levels, so no plugin that loads comes near it.
const MAX_NESTING: usize = 200;

/// Stack for the parser thread. `full_moon` takes up to ~80 KiB of stack per
/// level of nesting in debug builds (nested `if`s, measured; ~20 KiB in
/// release), so [`MAX_NESTING`] levels need ~16 MiB; the rest is margin for
/// shapes not measured. Only the pages used are ever touched.
const PARSER_STACK_SIZE: usize = 64 * 1024 * 1024;

/// Reads the `manifest` table of a single-file plugin from its source, without running it.
///
/// The error is a sentence for the plugin's author, starting with the line
/// it is about when there is one.
pub fn extract_manifest(source: &str) -> Result<Value, String> {
    // `full_moon` has no depth limit of its own, and a stack overflow aborts
    // the host process: bound the nesting first, then parse on a stack that
    // is known to be big enough for it, whatever thread the host calls from.
    check_nesting(source)?;
    thread::scope(|scope| {
        thread::Builder::new()
            .name("qtforge-manifest".to_owned())
            .stack_size(PARSER_STACK_SIZE)
            .spawn_scoped(scope, || read_manifest(source))
            .map_err(|e| format!("could not start a thread to read the manifest: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("the Lua parser failed unexpectedly on this file".to_owned()))
    })
}

fn read_manifest(source: &str) -> Result<Value, String> {
    let ast = full_moon::parse(source).map_err(|errors| parse_error(&errors))?;
    let manifest = find_manifest(ast.nodes())?;
    table(manifest, 1).map_err(FieldError::into_message)
}

/// The first parse error, where it is: later ones are mostly its echoes.
fn parse_error(errors: &[full_moon::Error]) -> String {
    let Some(first) = errors.first() else {
        return "the file is not valid Lua".to_owned();
    };
    let (start, _) = first.range();
    let message = match first {
        // Its `Display` repeats the range, which the prefix already gives.
        full_moon::Error::TokenizerError(error) => error.error().to_string(),
        full_moon::Error::AstError(error) => error.error_message().to_string(),
    };
    format!(
        "line {}, column {}: syntax error: {}",
        start.line(),
        start.character(),
        message.trim_end_matches('.')
    )
}

// ---------------------------------------------------------------------------
// Finding the manifest constructor

/// The manifest's table constructor, after following the top-level statements.
fn find_manifest(block: &Block) -> Result<&TableConstructor, String> {
    let mut scope = Scope::default();
    for stmt in block.stmts() {
        scope.run(stmt);
    }
    let Some(LastStmt::Return(ret)) = block.last_stmt() else {
        return Err(NO_MANIFEST.to_owned());
    };
    let Some(returned) = ret.returns().iter().next() else {
        return Err(NO_MANIFEST.to_owned());
    };

    let plugin = scope.bind(returned);
    let (manifest, line) = match plugin.manifest {
        ManifestField::Found { held, line } => (held, line),
        ManifestField::Twice { line } => {
            return Err(format!(
                "line {line}: the plugin table has two `manifest` fields"
            ));
        }
        ManifestField::Absent => {
            return Err(match plugin.held {
                Held::Expr(Expression::TableConstructor(_)) => NO_MANIFEST.to_owned(),
                held => format!(
                    "line {}: the file must return a table with a `manifest` field, but it returns {}",
                    line_of(returned),
                    describe_held(held)
                ),
            });
        }
    };

    let table = match manifest {
        Held::Expr(Expression::TableConstructor(table)) => &**table,
        Held::Expr(expr) if is_symbol(expr, Symbol::Nil) => return Err(NO_MANIFEST.to_owned()),
        held => {
            return Err(format!(
                "line {line}: the manifest must be a table written out in the file, but it is {}",
                describe_held(held)
            ));
        }
    };
    if let Some(&(_, line)) = scope
        .changed
        .iter()
        .find(|(changed, _)| std::ptr::eq(*changed, table))
    {
        return Err(format!(
            "line {line}: the manifest is changed after its table constructor; \
             put every value in the constructor so it can be read without running the file"
        ));
    }
    Ok(table)
}

/// What a name holds after the top-level statements run so far.
#[derive(Debug, Clone, Copy)]
enum Held<'a> {
    /// An expression, parentheses removed.
    Expr(&'a Expression),
    /// `local x` with no value (or more names than values): `nil`.
    Declared { name: &'a str, line: usize },
    /// A name no top-level statement assigns: a global, or one set in a block.
    Unassigned { name: &'a str },
    /// `function x() end` or `local function x() end`.
    Function,
}

/// What is known about a table's `manifest` field.
#[derive(Debug, Clone, Copy)]
enum ManifestField<'a> {
    Absent,
    /// `line` is where the field was set, for errors about its value.
    Found {
        held: Held<'a>,
        line: usize,
    },
    /// A constructor with two `manifest` keys (Lua would keep the last one,
    /// silently; that is never what the author meant).
    Twice {
        line: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Binding<'a> {
    held: Held<'a>,
    /// Snapshot taken when the binding is made, as Lua evaluates a
    /// constructor once: reassigning a local later does not change it.
    manifest: ManifestField<'a>,
}

/// Where an assignment stores its value.
enum Target<'a> {
    Name(&'a str),
    /// `base.k1.k2... = value`; `keys` counts the indexings.
    Field {
        base: &'a str,
        manifest_first: bool,
        keys: usize,
    },
}

/// A symbolic run of the chunk's top-level statements.
#[derive(Default)]
struct Scope<'a> {
    names: HashMap<&'a str, Binding<'a>>,
    /// Constructors that a later statement assigns into, with its line: if
    /// one of them is the manifest, its constructor is not the whole story.
    changed: Vec<(&'a TableConstructor, usize)>,
}

impl<'a> Scope<'a> {
    fn run(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::LocalAssignment(local) => {
                let values: Vec<&Expression> = local.expressions().iter().collect();
                let line = line_of(local);
                // The values are evaluated before the new locals exist
                // (`local a, b = {}, a` sees the old `a`).
                let bindings: Vec<_> = local
                    .names()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, name)| {
                        let name = identifier(name)?;
                        Some((name, self.bind_nth(&values, i, name, line)))
                    })
                    .collect();
                self.names.extend(bindings);
            }
            Stmt::Assignment(assignment) => {
                let values: Vec<&Expression> = assignment.expressions().iter().collect();
                let line = line_of(assignment);
                // Lua evaluates every value before storing any (`a, b = b, a`).
                let stores: Vec<_> = assignment
                    .variables()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, var)| {
                        let target = target(var)?;
                        let name = match target {
                            Target::Name(name) | Target::Field { base: name, .. } => name,
                        };
                        Some((target, self.bind_nth(&values, i, name, line)))
                    })
                    .collect();
                for (target, binding) in stores {
                    self.store(target, binding, line);
                }
            }
            Stmt::LocalFunction(function) => {
                if let Some(name) = identifier(function.name()) {
                    self.names.insert(name, Binding::of(Held::Function));
                }
            }
            Stmt::FunctionDeclaration(declaration) => {
                // `function a.b:c() end` stores into `a.b.c`.
                let name = declaration.name();
                let mut path = name.names().iter().chain(name.method_name());
                let Some(base) = path.next().and_then(identifier) else {
                    return;
                };
                let keys: Vec<_> = path.collect();
                let target = match keys.first() {
                    None => Target::Name(base),
                    Some(first) => Target::Field {
                        base,
                        manifest_first: identifier(first) == Some("manifest"),
                        keys: keys.len(),
                    },
                };
                self.store(target, Binding::of(Held::Function), line_of(declaration));
            }
            // Calls, loops and blocks: what they do depends on running them.
            _ => {}
        }
    }

    /// The binding the `i`th of several targets gets from `values`, as Lua
    /// assigns them: missing values are `nil`, unless the last value is a
    /// call or `...`, which may fill them in.
    fn bind_nth(
        &self,
        values: &[&'a Expression],
        i: usize,
        name: &'a str,
        line: usize,
    ) -> Binding<'a> {
        match (values.get(i), values.last()) {
            (Some(value), _) => self.bind(value),
            (None, Some(last)) if is_multiple_values(last) => Binding::of(Held::Expr(last)),
            (None, _) => Binding::of(Held::Declared { name, line }),
        }
    }

    fn store(&mut self, target: Target<'a>, binding: Binding<'a>, line: usize) {
        let (base, manifest_first, keys) = match target {
            Target::Name(name) => {
                self.names.insert(name, binding);
                return;
            }
            Target::Field {
                base,
                manifest_first,
                keys,
            } => (base, manifest_first, keys),
        };
        let Some(owner) = self.names.get_mut(base) else {
            return;
        };
        if let Held::Expr(Expression::TableConstructor(table)) = owner.held {
            self.changed.push((table, line));
        }
        if !manifest_first {
            return;
        }
        if keys == 1 {
            owner.manifest = ManifestField::Found {
                held: binding.held,
                line,
            };
        } else if let ManifestField::Found {
            held: Held::Expr(Expression::TableConstructor(table)),
            ..
        } = owner.manifest
        {
            self.changed.push((table, line));
        }
    }

    /// What `expr` evaluates to, with its `manifest` field if it is a table.
    fn bind(&self, expr: &'a Expression) -> Binding<'a> {
        let expr = unparenthesized(expr);
        if let Some(name) = variable_name(expr) {
            return self
                .names
                .get(name)
                .copied()
                .unwrap_or(Binding::of(Held::Unassigned { name }));
        }
        let manifest = match expr {
            Expression::TableConstructor(table) => self.manifest_field(table),
            _ => ManifestField::Absent,
        };
        Binding {
            held: Held::Expr(expr),
            manifest,
        }
    }

    fn manifest_field(&self, table: &'a TableConstructor) -> ManifestField<'a> {
        let mut found = ManifestField::Absent;
        for field in table.fields() {
            let (is_manifest, value) = match field {
                Field::NameKey { key, value, .. } => (identifier(key) == Some("manifest"), value),
                Field::ExpressionKey { key, value, .. } => (
                    matches!(string_of(key), Some(Ok(k)) if k == "manifest"),
                    value,
                ),
                _ => continue,
            };
            if !is_manifest {
                continue;
            }
            if let ManifestField::Found { .. } = found {
                return ManifestField::Twice {
                    line: line_of(field),
                };
            }
            found = ManifestField::Found {
                held: self.bind(value).held,
                line: line_of(value),
            };
        }
        found
    }
}

impl<'a> Binding<'a> {
    fn of(held: Held<'a>) -> Self {
        Self {
            held,
            manifest: ManifestField::Absent,
        }
    }
}

/// Where `var = ...` stores; `None` when that depends on evaluating
/// something (`f().x = 1`, `(t).x = 1`).
fn target(var: &Var) -> Option<Target<'_>> {
    let var = match var {
        Var::Name(name) => return identifier(name).map(Target::Name),
        Var::Expression(var) => var,
        _ => return None,
    };
    let Prefix::Name(base) = var.prefix() else {
        return None;
    };
    let mut keys = 0;
    let mut manifest_first = false;
    for suffix in var.suffixes() {
        let Suffix::Index(index) = suffix else {
            return None;
        };
        if keys == 0 {
            manifest_first = match index {
                Index::Dot { name, .. } => identifier(name) == Some("manifest"),
                Index::Brackets { expression, .. } => {
                    matches!(string_of(expression), Some(Ok(k)) if k == "manifest")
                }
                _ => false,
            };
        }
        keys += 1;
    }
    Some(Target::Field {
        base: identifier(base)?,
        manifest_first,
        keys,
    })
}

// ---------------------------------------------------------------------------
// Converting the constructor

/// An error inside the manifest; the path is collected while unwinding, so
/// the happy path never builds one.
struct FieldError {
    line: usize,
    /// Innermost segment first.
    path: Vec<Segment>,
    problem: String,
}

enum Segment {
    Key(String),
    /// 1-based, as the author counts in Lua.
    Index(usize),
}

impl FieldError {
    fn new(line: usize, problem: impl Into<String>) -> Self {
        Self {
            line,
            path: Vec::new(),
            problem: problem.into(),
        }
    }

    fn within(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    fn into_message(self) -> String {
        let mut path = "manifest".to_owned();
        for segment in self.path.iter().rev() {
            let _ = match segment {
                Segment::Key(key) if is_identifier(key) => write!(path, ".{key}"),
                Segment::Key(key) => write!(path, "[{key:?}]"),
                Segment::Index(index) => write!(path, "[{index}]"),
            };
        }
        format!("line {}: field \"{path}\" {}", self.line, self.problem)
    }
}

/// A constructor as JSON: keyed fields make an object, positional ones an
/// array. `{}` could be either; it becomes an empty object, because the
/// manifest and most tables in it are objects, and its list fields accept an
/// empty object as an empty list (`manifest::list`), which is also how an
/// empty table arrives when the manifest is read from a running plugin.
fn table(table: &TableConstructor, depth: usize) -> Result<Value, FieldError> {
    if depth > MAX_TABLE_DEPTH {
        return Err(FieldError::new(
            line_of(table),
            format!("nests tables more than {MAX_TABLE_DEPTH} deep"),
        ));
    }
    let mut list = Vec::new();
    // `nil` fields are stored as `Null` until the end, so that setting a key
    // twice is caught even when one of the values is `nil`; Lua has no other
    // value that becomes `Null`.
    let mut object = Map::new();
    for field in table.fields() {
        let (key, value) = match field {
            Field::NoKey(value) => {
                if !object.is_empty() {
                    return Err(mixed(field));
                }
                let index = list.len() + 1;
                let item = literal(value, depth)
                    .and_then(|item| {
                        item.ok_or_else(|| {
                            FieldError::new(
                                line_of(value),
                                "is nil, which leaves a hole in the list",
                            )
                        })
                    })
                    .map_err(|e| e.within(Segment::Index(index)))?;
                list.push(item);
                continue;
            }
            Field::NameKey { key, value, .. } => {
                let name = identifier(key).map_or_else(|| key.token().to_string(), str::to_owned);
                (name, value)
            }
            Field::ExpressionKey { key, value, .. } => match string_of(key) {
                Some(Ok(name)) => (name, value),
                Some(Err(reason)) => {
                    return Err(FieldError::new(
                        line_of(key),
                        format!("has a key string that {reason}"),
                    ));
                }
                None => {
                    return Err(FieldError::new(
                        line_of(key),
                        format!(
                            "has a key that is {}; keys must be names or strings (`name = value` or `[\"name\"] = value`)",
                            describe(key)
                        ),
                    ));
                }
            },
            _ => {
                return Err(FieldError::new(
                    line_of(field),
                    "has a field of a form a manifest cannot hold",
                ));
            }
        };
        if !list.is_empty() {
            return Err(mixed(field));
        }
        if object.contains_key(&key) {
            return Err(FieldError::new(line_of(field), "is set twice").within(Segment::Key(key)));
        }
        let item = match literal(value, depth) {
            Ok(item) => item.unwrap_or(Value::Null),
            Err(e) => return Err(e.within(Segment::Key(key))),
        };
        object.insert(key, item);
    }
    if list.is_empty() {
        object.retain(|_, value| !value.is_null());
        Ok(Value::Object(object))
    } else {
        Ok(Value::Array(list))
    }
}

fn mixed(field: &Field) -> FieldError {
    FieldError::new(
        line_of(field),
        "mixes list items and named fields; use one or the other",
    )
}

/// A literal value; `None` for `nil`.
fn literal(expr: &Expression, depth: usize) -> Result<Option<Value>, FieldError> {
    let not_literal = || {
        FieldError::new(
            line_of(expr),
            format!(
                "is not a literal ({}); write the value itself",
                describe(expr)
            ),
        )
    };
    match expr {
        Expression::Parentheses { expression, .. } => literal(expression, depth),
        Expression::TableConstructor(constructor) => table(constructor, depth + 1).map(Some),
        Expression::String(token) => match string_value(token) {
            Some(Ok(text)) => Ok(Some(Value::String(text))),
            Some(Err(reason)) => Err(FieldError::new(
                line_of(expr),
                format!("holds a string that {reason}"),
            )),
            None => Err(not_literal()),
        },
        Expression::Number(token) => number_value(token, false).map(Some),
        Expression::UnaryOperator {
            unop: UnOp::Minus(_),
            expression,
        } => match unparenthesized(expression) {
            Expression::Number(token) => number_value(token, true).map(Some),
            _ => Err(not_literal()),
        },
        Expression::Symbol(token) => match token.token_type() {
            TokenType::Symbol {
                symbol: Symbol::True,
            } => Ok(Some(Value::Bool(true))),
            TokenType::Symbol {
                symbol: Symbol::False,
            } => Ok(Some(Value::Bool(false))),
            TokenType::Symbol {
                symbol: Symbol::Nil,
            } => Ok(None),
            _ => Err(not_literal()),
        },
        _ => Err(not_literal()),
    }
}

fn number_value(token: &TokenReference, negative: bool) -> Result<Value, FieldError> {
    let text = match token.token_type() {
        TokenType::Number { text } => text.as_str(),
        _ => "",
    };
    let fail = |reason: &str| {
        FieldError::new(
            line_of(token),
            format!("holds the number {text}, which {reason}"),
        )
    };
    let number = parse_number(text).map_err(fail)?;
    let number = if negative { number.negated() } else { number };
    match number {
        Num::Int(n) => Ok(Value::from(n)),
        Num::UInt(n) => Ok(Value::from(n)),
        Num::Float(n) => Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| fail("is too large to represent")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Num {
    fn negated(self) -> Self {
        match self {
            Num::Int(n) => n.checked_neg().map_or(Num::Float(-(n as f64)), Num::Int),
            Num::UInt(n) if n == i64::MIN.unsigned_abs() => Num::Int(i64::MIN),
            Num::UInt(n) => Num::Float(-(n as f64)),
            Num::Float(n) => Num::Float(-n),
        }
    }
}

/// A Lua number literal. Integers that overflow `i64` become `u64` (JSON
/// holds both), then floats as in Lua; the `Err` completes "the number ..., which".
fn parse_number(text: &str) -> Result<Num, &'static str> {
    // LuaJIT's `1LL`, `1ULL` and `1i` make cdata, which has no JSON form.
    const LUAJIT_SUFFIX: &[char] = &['u', 'U', 'l', 'L', 'i', 'I'];
    if let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if digits.contains(['.', 'p', 'P']) {
            return Err("is a hexadecimal float; write it in decimal");
        }
        if digits.contains(LUAJIT_SUFFIX) {
            return Err("has a LuaJIT suffix; write a plain number");
        }
        // Lua 5.4 wraps larger hex literals around and LuaJIT makes them
        // floats: neither is what the author meant.
        return match u64::from_str_radix(digits, 16) {
            Ok(n) => Ok(i64::try_from(n).map_or(Num::UInt(n), Num::Int)),
            Err(_) => Err("does not fit in 64 bits"),
        };
    }
    if text.contains(LUAJIT_SUFFIX) {
        return Err("has a LuaJIT suffix; write a plain number");
    }
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Num::Int(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Num::UInt(n));
        }
    }
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Num::Float(n)),
        Ok(_) => Err("is too large to represent"),
        Err(_) => Err("is not a number Lua can read"),
    }
}

// ---------------------------------------------------------------------------
// Strings

/// The string a string expression stands for; `None` if it is not a string
/// literal.
fn string_of(expr: &Expression) -> Option<Result<String, String>> {
    match unparenthesized(expr) {
        Expression::String(token) => string_value(token),
        _ => None,
    }
}

/// The value of a string literal token. `full_moon` keeps the source text
/// between the quotes or brackets, escapes and all.
fn string_value(token: &TokenReference) -> Option<Result<String, String>> {
    match token.token_type() {
        TokenType::StringLiteral {
            literal,
            quote_type: StringLiteralQuoteType::Brackets,
            ..
        } => Some(Ok(long_string(literal))),
        TokenType::StringLiteral { literal, .. } => Some(unescape(literal)),
        _ => None,
    }
}

/// A `[[...]]` string: no escapes, but as in Lua a newline right after the
/// opening bracket is dropped and every newline sequence becomes `\n`.
fn long_string(body: &str) -> String {
    let body = ["\r\n", "\n\r", "\n", "\r"]
        .iter()
        .find_map(|newline| body.strip_prefix(newline))
        .unwrap_or(body);
    let mut text = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            skip_newline_pair(&mut chars, c);
            text.push('\n');
        } else {
            text.push(c);
        }
    }
    text
}

/// After a `\n` or `\r`, skips the other half of a `\r\n` or `\n\r` pair.
fn skip_newline_pair(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, first: char) {
    chars.next_if(|&next| (next == '\n' || next == '\r') && next != first);
}

/// The contents of a quoted string with its escapes resolved, as Lua 5.4
/// reads them. Escapes can produce any byte, so the result is checked to be
/// UTF-8 at the end; the `Err` completes "a string that ...".
fn unescape(raw: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        let Some(escape) = chars.next() else {
            return Err("ends with a lone backslash".to_owned());
        };
        match escape {
            'n' => bytes.push(b'\n'),
            't' => bytes.push(b'\t'),
            'r' => bytes.push(b'\r'),
            'a' => bytes.push(0x07),
            'b' => bytes.push(0x08),
            'f' => bytes.push(0x0c),
            'v' => bytes.push(0x0b),
            '\\' | '"' | '\'' => bytes.push(escape as u8),
            '\n' | '\r' => {
                skip_newline_pair(&mut chars, escape);
                bytes.push(b'\n');
            }
            'z' => while chars.next_if(|&c| is_lua_space(c)).is_some() {},
            'x' => {
                let high = chars.next().and_then(|c| c.to_digit(16));
                let low = chars.next().and_then(|c| c.to_digit(16));
                match (high, low) {
                    // Two hex digits make at most 255.
                    (Some(high), Some(low)) => bytes.push((high * 16 + low) as u8),
                    _ => return Err("has a `\\x` escape without two hex digits".to_owned()),
                }
            }
            'u' => {
                let code = unicode_escape(&mut chars)?;
                let c = char::from_u32(code).ok_or_else(|| {
                    format!("is not valid UTF-8 (`\\u{{{code:X}}}` is not a Unicode character)")
                })?;
                bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
            '0'..='9' => {
                // Up to three decimal digits, at most 255.
                let mut code = u32::from(escape) - u32::from('0');
                for _ in 0..2 {
                    let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) else {
                        break;
                    };
                    chars.next();
                    code = code * 10 + digit;
                }
                let byte = u8::try_from(code)
                    .map_err(|_| format!("has a decimal escape above 255 (`\\{code}`)"))?;
                bytes.push(byte);
            }
            other => return Err(format!("has an invalid escape `\\{other}`")),
        }
    }
    String::from_utf8(bytes).map_err(|_| "is not valid UTF-8".to_owned())
}

/// The code of a `\u{XXX}` escape, after the `u`. Lua accepts up to 2^31 - 1.
fn unicode_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<u32, String> {
    let malformed = || "has a malformed `\\u{...}` escape".to_owned();
    if chars.next() != Some('{') {
        return Err(malformed());
    }
    let mut code: u32 = 0;
    let mut digits = 0;
    loop {
        match chars.next() {
            Some('}') if digits > 0 => return Ok(code),
            Some(c) => {
                let digit = c.to_digit(16).ok_or_else(malformed)?;
                code = code
                    .checked_mul(16)
                    .map(|code| code + digit)
                    .filter(|&code| code <= 0x7FFF_FFFF)
                    .ok_or_else(|| "has a `\\u{...}` escape that is too large".to_owned())?;
                digits += 1;
            }
            None => return Err(malformed()),
        }
    }
}

/// Lua's `lisspace`: what `\z` skips.
fn is_lua_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// Small AST helpers

/// The line a node starts on. Every node of a successfully parsed file has a
/// position; 0 only guards against a `full_moon` surprise.
fn line_of(node: &impl Node) -> usize {
    node.start_position().map_or(0, |position| position.line())
}

fn identifier(token: &TokenReference) -> Option<&str> {
    match token.token_type() {
        TokenType::Identifier { identifier } => Some(identifier.as_str()),
        _ => None,
    }
}

fn variable_name(expr: &Expression) -> Option<&str> {
    match expr {
        Expression::Var(Var::Name(name)) => identifier(name),
        _ => None,
    }
}

fn unparenthesized(mut expr: &Expression) -> &Expression {
    while let Expression::Parentheses { expression, .. } = expr {
        expr = expression;
    }
    expr
}

fn is_symbol(expr: &Expression, symbol: Symbol) -> bool {
    matches!(expr, Expression::Symbol(token) if token.is_symbol(symbol))
}

/// A call or `...`, whose values spill over into extra assignment targets.
fn is_multiple_values(expr: &Expression) -> bool {
    matches!(expr, Expression::FunctionCall(_)) || is_symbol(expr, Symbol::Ellipsis)
}

/// What an expression is, for error messages ("a function call").
fn describe(expr: &Expression) -> String {
    match expr {
        Expression::Parentheses { expression, .. } => describe(expression),
        Expression::FunctionCall(_) => "a function call".to_owned(),
        Expression::Function(_) => "a function".to_owned(),
        Expression::BinaryOperator { binop, .. } => {
            format!("an expression with `{}`", binop.token().token())
        }
        Expression::UnaryOperator { unop, .. } => {
            format!("an expression with `{}`", unop.token().token())
        }
        Expression::TableConstructor(_) => "a table".to_owned(),
        Expression::String(_) => "a string".to_owned(),
        Expression::Number(_) => "a number".to_owned(),
        Expression::Symbol(token) => match token.token_type() {
            TokenType::Symbol {
                symbol: Symbol::True | Symbol::False,
            } => "a boolean".to_owned(),
            TokenType::Symbol {
                symbol: Symbol::Nil,
            } => "nil".to_owned(),
            TokenType::Symbol {
                symbol: Symbol::Ellipsis,
            } => "the vararg `...`".to_owned(),
            _ => format!("`{}`", token.token()),
        },
        Expression::Var(Var::Expression(var))
            if var
                .suffixes()
                .any(|suffix| matches!(suffix, Suffix::Call(_))) =>
        {
            "a value from a function call".to_owned()
        }
        Expression::Var(var) => {
            let text = var.to_string();
            let text = text.trim();
            if text.len() <= 40 && !text.contains('\n') {
                format!("the variable `{text}`")
            } else {
                "a variable".to_owned()
            }
        }
        _ => "an expression".to_owned(),
    }
}

fn describe_held(held: Held) -> String {
    match held {
        Held::Expr(expr) => describe(expr),
        Held::Declared { name, line } => format!(
            "`{name}`, which is declared on line {line} without a value at the top level of the file"
        ),
        Held::Unassigned { name } => format!(
            "`{name}`, which no top-level statement assigns (a global, or set inside a block or function)"
        ),
        Held::Function => "a function".to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Nesting limit

/// Checks, on the raw text, that the file nests no deeper than [`MAX_NESTING`].
///
/// Counts what makes `full_moon` recurse: brackets, blocks (`function`,
/// `do`, `then`, `repeat` up to `end`/`until`), and chains of unary and
/// right-associative operators (`- - x`, `a .. b .. c`), skipping strings and
/// comments. Operator chains end at `,`, `;`, `=` and statement keywords.
/// It is meant to agree roughly with Lua's own limit, erring on the high
/// side; an unbalanced file is left for the parser to report.
fn check_nesting(source: &str) -> Result<(), String> {
    let bytes = source.as_bytes();
    let mut levels = Levels::default();
    let mut line = 1;
    let mut i = 0;
    // Whether the previous token ends an operand, which makes `-` binary.
    let mut after_operand = false;
    while let Some(&byte) = bytes.get(i) {
        let mut operand = false;
        match byte {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = match long_bracket(bytes, i + 2) {
                    Some(level) => skip_long_bracket(bytes, i + 2, level, &mut line),
                    None => memchr_newline(bytes, i),
                };
                continue;
            }
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i, &mut line);
                operand = true;
            }
            b'[' => match long_bracket(bytes, i) {
                Some(level) => {
                    i = skip_long_bracket(bytes, i, level, &mut line);
                    operand = true;
                }
                None => {
                    levels.open();
                    i += 1;
                }
            },
            b'{' | b'(' => {
                levels.open();
                i += 1;
            }
            b'}' | b')' | b']' => {
                levels.close();
                i += 1;
                operand = true;
            }
            b'~' if bytes.get(i + 1) == Some(&b'=') => i += 2,
            b'-' | b'#' | b'~' if !after_operand => {
                levels.operator();
                i += 1;
            }
            b'^' => {
                levels.operator();
                i += 1;
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = skip_number(bytes, i);
                operand = true;
            }
            b'.' => {
                let dots = bytes[i..]
                    .iter()
                    .take(3)
                    .take_while(|&&b| b == b'.')
                    .count();
                match dots {
                    3 => operand = true,
                    2 => levels.operator(),
                    _ => {}
                }
                i += dots;
            }
            b',' | b';' | b'=' => {
                levels.reset();
                i += 1;
            }
            b'0'..=b'9' => {
                i = skip_number(bytes, i);
                operand = true;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80.. => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
                    .map_or(bytes.len(), |len| i + len);
                match &bytes[i..end] {
                    b"function" | b"do" | b"then" | b"repeat" => levels.open(),
                    b"end" => {
                        levels.close();
                        operand = true;
                    }
                    b"until" | b"elseif" => levels.close(),
                    b"not" => levels.operator(),
                    b"and" | b"or" => {}
                    b"nil" | b"true" | b"false" => operand = true,
                    b"local" | b"return" | b"if" | b"while" | b"for" | b"in" | b"else"
                    | b"break" | b"goto" => levels.reset(),
                    _ => operand = true,
                }
                i = end;
            }
            _ => i += 1,
        }
        if levels.total > MAX_NESTING {
            return Err(format!(
                "line {line}: the code nests more than {MAX_NESTING} levels deep \
                 (tables, brackets, blocks or operators), more than Lua itself allows"
            ));
        }
        after_operand = operand;
    }
    Ok(())
}

/// Open levels, each with the operators chained in it so far.
struct Levels {
    operators: Vec<usize>,
    /// Levels above the chunk plus all chained operators: the recursion depth.
    total: usize,
}

impl Default for Levels {
    fn default() -> Self {
        Self {
            // The chunk itself, which is never closed.
            operators: vec![0],
            total: 0,
        }
    }
}

impl Levels {
    fn open(&mut self) {
        self.operators.push(0);
        self.total += 1;
    }

    fn close(&mut self) {
        if self.operators.len() > 1 {
            let chained = self.operators.pop().unwrap_or(0);
            self.total = self.total.saturating_sub(1 + chained);
        }
    }

    fn operator(&mut self) {
        if let Some(chained) = self.operators.last_mut() {
            *chained += 1;
            self.total += 1;
        }
    }

    fn reset(&mut self) {
        if let Some(chained) = self.operators.last_mut() {
            self.total = self.total.saturating_sub(*chained);
            *chained = 0;
        }
    }
}

/// The index of the next `\n` at or after `i`, or the end.
fn memchr_newline(bytes: &[u8], i: usize) -> usize {
    bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |offset| i + offset)
}

/// The level of a long bracket (`[[` is 0, `[==[` is 2) opening at `i`.
fn long_bracket(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'[') {
        return None;
    }
    let rest = bytes.get(i + 1..)?;
    let level = rest.iter().take_while(|&&b| b == b'=').count();
    (rest.get(level) == Some(&b'[')).then_some(level)
}

/// The index just past the long bracket of `level` opening at `i`.
fn skip_long_bracket(bytes: &[u8], i: usize, level: usize, line: &mut usize) -> usize {
    let mut j = i + level + 2;
    while let Some(&byte) = bytes.get(j) {
        match byte {
            b'\n' => *line += 1,
            b']' => {
                let equals = bytes[j + 1..].iter().take_while(|&&b| b == b'=').count();
                if equals == level && bytes.get(j + 1 + level) == Some(&b']') {
                    return j + level + 2;
                }
            }
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

/// The index just past the quoted string opening at `i`.
fn skip_quoted(bytes: &[u8], i: usize, line: &mut usize) -> usize {
    let quote = bytes.get(i).copied();
    let mut j = i + 1;
    while let Some(&byte) = bytes.get(j) {
        match byte {
            b'\\' => {
                j += 1;
                match bytes.get(j) {
                    Some(b'z') => {
                        j += 1;
                        while let Some(&space) = bytes.get(j) {
                            match space {
                                b'\n' => *line += 1,
                                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {}
                                _ => break,
                            }
                            j += 1;
                        }
                        continue;
                    }
                    Some(b'\n') => *line += 1,
                    Some(b'\r') if bytes.get(j + 1) == Some(&b'\n') => {
                        *line += 1;
                        j += 1;
                    }
                    _ => {}
                }
                j += 1;
            }
            // An unfinished string; the parser reports it.
            b'\n' => return j,
            _ if Some(byte) == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The index just past the number starting at `i` (an exponent's sign included).
fn skip_number(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while let Some(&byte) = bytes.get(j) {
        let exponent_sign = matches!(byte, b'+' | b'-')
            && j > i
            && matches!(bytes.get(j - 1), Some(b'e' | b'E' | b'p' | b'P'));
        if !(byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'_' || exponent_sign) {
            break;
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The manifest of `return { manifest = <manifest> }`.
    fn manifest_of(manifest: &str) -> Result<Value, String> {
        extract_manifest(&format!("return {{ manifest = {manifest} }}"))
    }

    /// The value of `manifest.v`, written as `<value>`.
    fn value_of(value: &str) -> Result<Value, String> {
        manifest_of(&format!("{{ v = {value} }}")).map(|manifest| manifest["v"].clone())
    }

    fn error_of(source: &str) -> String {
        match extract_manifest(source) {
            Ok(value) => panic!("expected an error, got {value}"),
            Err(error) => error,
        }
    }

    // -- forms

    #[test]
    fn returned_constructor() {
        let source = r#"
            return {
                manifest = { name = "hello", version = "1.0.0" },
                init = function() end,
            }
        "#;
        assert_eq!(
            extract_manifest(source),
            Ok(json!({ "name": "hello", "version": "1.0.0" }))
        );
    }

    #[test]
    fn returned_local_table() {
        let source = r#"
            local M = { manifest = { name = "hello" } }
            function M.init() end
            return M
        "#;
        assert_eq!(extract_manifest(source), Ok(json!({ "name": "hello" })));
    }

    #[test]
    fn manifest_assigned_as_a_field() {
        let dot = "local M = {}\nM.manifest = { name = \"dot\" }\nreturn M";
        assert_eq!(extract_manifest(dot), Ok(json!({ "name": "dot" })));
        let brackets = "local M = {}\nM[\"manifest\"] = { name = \"brackets\" }\nreturn M";
        assert_eq!(
            extract_manifest(brackets),
            Ok(json!({ "name": "brackets" }))
        );
        // The plugin table need not be a constructor for its field to count.
        let wrapped = "local M = setmetatable({}, {})\nM.manifest = { name = \"m\" }\nreturn M";
        assert_eq!(extract_manifest(wrapped), Ok(json!({ "name": "m" })));
    }

    #[test]
    fn manifest_held_by_a_local() {
        let manifest = "local manifest = { name = \"local\" }\n";
        for rest in [
            "return { manifest = manifest }",
            "local M = {}\nM.manifest = manifest\nreturn M",
            "local M = { manifest = manifest }\nreturn M",
            "local M = { manifest = (manifest) }\nreturn (M)",
        ] {
            assert_eq!(
                extract_manifest(&format!("{manifest}{rest}")),
                Ok(json!({ "name": "local" })),
                "{rest}"
            );
        }
    }

    #[test]
    fn last_top_level_assignment_wins() {
        let source = r#"
            local manifest = { name = "first" }
            manifest = { name = "second" }
            if debug_mode then manifest = { name = "in a block" } end
            return { manifest = manifest }
        "#;
        assert_eq!(extract_manifest(source), Ok(json!({ "name": "second" })));
    }

    #[test]
    fn constructors_take_the_value_names_have_at_that_point() {
        // As in Lua: `M.manifest` keeps the first table.
        let source = r#"
            local manifest = { name = "first" }
            local M = { manifest = manifest }
            manifest = { name = "second" }
            return M
        "#;
        assert_eq!(extract_manifest(source), Ok(json!({ "name": "first" })));
        let swapped = r#"
            local a, b = { name = "a" }, { name = "b" }
            a, b = b, a
            return { manifest = a }
        "#;
        assert_eq!(extract_manifest(swapped), Ok(json!({ "name": "b" })));
        let shadowed = r#"
            local manifest = { name = "outer" }
            local manifest, plugin = { name = "inner" }, { manifest = manifest }
            return plugin
        "#;
        assert_eq!(extract_manifest(shadowed), Ok(json!({ "name": "outer" })));
    }

    #[test]
    fn realistic_plugin_file() {
        let source = r#"#!/usr/bin/env lua
-- greeter: says hello when the host starts.
local log = require("qtforge.log")

local DEFAULT_GREETING = "Hello"

local manifest = {
    name = "greeter",
    version = "1.2.0",
    description = [[
Greets people.
Politely.]],
    authors = { "Ada", 'Grace' },
    license = "MIT",
    dependencies = {
        { name = "logger", version = "^1.0" },
        { name = "clock", version = ">=2.1, <3", optional = true },
    },
    config = { greeting = "Hello", retries = 3, nested = { a = true } },
    priority = -5,
    tags = {},
}

local plugin = { manifest = manifest }

local function greet(name)
    return (plugin.config.greeting or DEFAULT_GREETING) .. ", " .. name
end

function plugin.init(context)
    plugin.config = context.config
    for _, user in ipairs(context.users) do
        log.info(greet(user))
    end
    return true
end

function plugin:shutdown()
    log.info("bye")
end

plugin.on_event = function(event) return event.kind == "start" end

return plugin
"#;
        assert_eq!(
            extract_manifest(source),
            Ok(json!({
                "name": "greeter",
                "version": "1.2.0",
                "description": "Greets people.\nPolitely.",
                "authors": ["Ada", "Grace"],
                "license": "MIT",
                "dependencies": [
                    { "name": "logger", "version": "^1.0" },
                    { "name": "clock", "version": ">=2.1, <3", "optional": true },
                ],
                "config": { "greeting": "Hello", "retries": 3, "nested": { "a": true } },
                "priority": -5,
                "tags": {},
            }))
        );
    }

    // -- values

    #[test]
    fn nested_tables_and_lists_of_tables() {
        let manifest = r#"{
            dependencies = { { name = "logger", version = "^1.0" } },
            config = { greeting = "Hello", retries = 3, nested = { a = true } },
            matrix = { { 1, 2 }, { 3 } },
        }"#;
        assert_eq!(
            manifest_of(manifest),
            Ok(json!({
                "dependencies": [{ "name": "logger", "version": "^1.0" }],
                "config": { "greeting": "Hello", "retries": 3, "nested": { "a": true } },
                "matrix": [[1, 2], [3]],
            }))
        );
    }

    #[test]
    fn empty_constructor_is_an_empty_object() {
        assert_eq!(manifest_of("{ tags = {} }"), Ok(json!({ "tags": {} })));
        assert_eq!(manifest_of("{}"), Ok(json!({})));
    }

    #[test]
    fn booleans_and_nil_fields() {
        assert_eq!(
            manifest_of("{ yes = true, no = false, gone = nil, [\"also gone\"] = nil; last = 1; }"),
            Ok(json!({ "yes": true, "no": false, "last": 1 }))
        );
    }

    #[test]
    fn string_keys() {
        assert_eq!(
            manifest_of(
                r#"{ ["with space"] = 1, ['single'] = 2, [ [[long]] ] = 3, [("paren")] = 4 }"#
            ),
            Ok(json!({ "with space": 1, "single": 2, "long": 3, "paren": 4 }))
        );
    }

    #[test]
    fn simple_escapes() {
        assert_eq!(
            value_of(r#""n\n t\t r\r a\a b\b f\f v\v bs\\ dq\" sq\' ""#),
            Ok(json!(
                "n\n t\t r\r a\u{7} b\u{8} f\u{c} v\u{b} bs\\ dq\" sq' "
            ))
        );
        assert_eq!(
            value_of(r#"'single "quotes" \'and\' escapes'"#),
            Ok(json!("single \"quotes\" 'and' escapes"))
        );
        assert_eq!(value_of("\"héllo ✓ 😀\""), Ok(json!("héllo ✓ 😀")));
    }

    #[test]
    fn escaped_newlines() {
        assert_eq!(value_of("\"one\\\ntwo\""), Ok(json!("one\ntwo")));
        assert_eq!(value_of("\"one\\\r\ntwo\""), Ok(json!("one\ntwo")));
    }

    #[test]
    fn z_escape_skips_whitespace() {
        assert_eq!(value_of("\"abc\\z\n      \t def\""), Ok(json!("abcdef")));
        assert_eq!(value_of(r#""a\z b\zc""#), Ok(json!("abc")));
    }

    #[test]
    fn decimal_escapes() {
        assert_eq!(value_of(r#""\65\066\0671\0""#), Ok(json!("ABC1\u{0}")));
        // Three digits at most: `\2550` is byte 255 then "0" (and not UTF-8).
        assert_eq!(
            value_of(r#""\2550""#),
            Err("line 1: field \"manifest.v\" holds a string that is not valid UTF-8".to_owned())
        );
        assert_eq!(value_of(r#""\0650""#), Ok(json!("A0")));
        assert!(
            value_of(r#""\256""#).is_err_and(|e| e.contains("decimal escape above 255 (`\\256`)"))
        );
        // UTF-8 written byte by byte
        assert_eq!(value_of(r#""\226\156\147""#), Ok(json!("✓")));
    }

    #[test]
    fn hex_escapes() {
        assert_eq!(value_of(r#""\x41\x7a\x7A\x20!""#), Ok(json!("Azz !")));
        assert_eq!(value_of(r#""\xe2\x9c\x93""#), Ok(json!("✓")));
        assert!(
            value_of(r#""\x4""#).is_err_and(|e| e.contains("`\\x` escape without two hex digits"))
        );
        assert!(value_of(r#""\xff""#).is_err_and(|e| e.ends_with("is not valid UTF-8")));
    }

    #[test]
    fn unicode_escapes() {
        assert_eq!(
            value_of(r#""\u{48}\u{20AC}\u{1F600}\u{0000041}""#),
            Ok(json!("H€😀A"))
        );
        for (escape, problem) in [
            (r#""\u{D800}""#, "not a Unicode character"),
            (r#""\u{110000}""#, "not a Unicode character"),
            (r#""\u{80000000}""#, "too large"),
            (r#""\u{}""#, "malformed"),
            (r#""\u41""#, "malformed"),
            (r#""\u{41""#, "malformed"),
        ] {
            assert!(
                value_of(escape).is_err_and(|e| e.contains(problem)),
                "{escape}"
            );
        }
    }

    #[test]
    fn invalid_escape() {
        assert_eq!(
            value_of(r#""C:\path""#),
            Err(
                "line 1: field \"manifest.v\" holds a string that has an invalid escape `\\p`"
                    .to_owned()
            )
        );
    }

    #[test]
    fn long_brackets() {
        assert_eq!(value_of("[[plain]]"), Ok(json!("plain")));
        assert_eq!(
            value_of("[[\nfirst newline dropped\n]]"),
            Ok(json!("first newline dropped\n"))
        );
        assert_eq!(
            value_of("[[\r\nCRLF too\r\nand inside]]"),
            Ok(json!("CRLF too\nand inside"))
        );
        assert_eq!(
            value_of("[[\n\nonly one dropped]]"),
            Ok(json!("\nonly one dropped"))
        );
        assert_eq!(value_of(r"[[no \n escapes]]"), Ok(json!(r"no \n escapes")));
        assert_eq!(
            value_of("[==[has ]] and ]=] inside]==]"),
            Ok(json!("has ]] and ]=] inside"))
        );
        assert_eq!(value_of("[=[\n]=]"), Ok(json!("")));
    }

    #[test]
    fn integers() {
        assert_eq!(value_of("42"), Ok(json!(42)));
        assert_eq!(value_of("0"), Ok(json!(0)));
        assert_eq!(value_of("-3"), Ok(json!(-3)));
        assert_eq!(value_of("- 3"), Ok(json!(-3)));
        assert_eq!(value_of("-(3)"), Ok(json!(-3)));
        assert_eq!(value_of("(7)"), Ok(json!(7)));
        assert_eq!(value_of("0x1F"), Ok(json!(31)));
        assert_eq!(value_of("0XfF"), Ok(json!(255)));
        assert_eq!(value_of("-0x10"), Ok(json!(-16)));
        assert_eq!(value_of("9223372036854775807"), Ok(json!(i64::MAX)));
        assert_eq!(value_of("-9223372036854775808"), Ok(json!(i64::MIN)));
        assert_eq!(value_of("0x7FFFFFFFFFFFFFFF"), Ok(json!(i64::MAX)));
    }

    #[test]
    fn integers_beyond_i64() {
        assert_eq!(
            value_of("9223372036854775808"),
            Ok(json!(9_223_372_036_854_775_808_u64))
        );
        assert_eq!(value_of("18446744073709551615"), Ok(json!(u64::MAX)));
        assert_eq!(value_of("0xFFFFFFFFFFFFFFFF"), Ok(json!(u64::MAX)));
        // Beyond u64, decimal integers become floats, as in Lua.
        assert_eq!(
            value_of("18446744073709551616"),
            Ok(json!(18_446_744_073_709_551_616.0))
        );
        assert_eq!(
            value_of("-18446744073709551615"),
            Ok(json!(-18_446_744_073_709_551_615.0))
        );
        let huge = format!("1{}", "0".repeat(400));
        assert!(value_of(&huge).is_err_and(|e| e.contains("too large to represent")));
        assert!(
            value_of("0x10000000000000000").is_err_and(|e| e.contains("does not fit in 64 bits"))
        );
    }

    #[test]
    fn floats() {
        assert_eq!(value_of("1.5"), Ok(json!(1.5)));
        assert_eq!(value_of("1e3"), Ok(json!(1000.0)));
        assert_eq!(value_of("2.5E-1"), Ok(json!(0.25)));
        assert_eq!(value_of(".5"), Ok(json!(0.5)));
        assert_eq!(value_of("5."), Ok(json!(5.0)));
        assert_eq!(value_of("-0.75"), Ok(json!(-0.75)));
        assert!(
            value_of("1e400").is_err_and(|e| e.contains("1e400, which is too large to represent"))
        );
        assert!(value_of("-1e400").is_err());
    }

    #[test]
    fn unsupported_number_forms() {
        assert!(value_of("0x1p4").is_err_and(|e| e.contains("hexadecimal float")));
        assert!(value_of("0xA.8").is_err_and(|e| e.contains("hexadecimal float")));
        for suffixed in ["1LL", "1ULL", "0x10ull", "2i"] {
            assert!(
                value_of(suffixed).is_err_and(|e| e.contains("LuaJIT suffix")),
                "{suffixed}"
            );
        }
    }

    // -- errors

    #[test]
    fn syntax_error_names_line_and_column() {
        let error = error_of("return {\n  manifest = {\n    name = ,\n  }\n}");
        assert_eq!(
            error,
            "line 3, column 10: syntax error: expected an expression after `=`"
        );
        let error = error_of("return { manifest = { name = \"unclosed } }");
        assert!(
            error.starts_with("line 1, column 30: syntax error: unclosed string"),
            "{error}"
        );
    }

    #[test]
    fn no_return() {
        assert_eq!(error_of("local M = { manifest = {} }"), NO_MANIFEST);
        assert_eq!(error_of(""), NO_MANIFEST);
        assert_eq!(error_of("return"), NO_MANIFEST);
    }

    #[test]
    fn return_of_something_else() {
        assert_eq!(
            error_of("\nreturn 42"),
            "line 2: the file must return a table with a `manifest` field, but it returns a number"
        );
        assert_eq!(
            error_of("return setmetatable({ manifest = {} }, {})"),
            "line 1: the file must return a table with a `manifest` field, but it returns a function call"
        );
        assert_eq!(
            error_of("local function make() end\nreturn make"),
            "line 2: the file must return a table with a `manifest` field, but it returns a function"
        );
        assert_eq!(
            error_of("return Plugin"),
            "line 1: the file must return a table with a `manifest` field, but it returns `Plugin`, \
             which no top-level statement assigns (a global, or set inside a block or function)"
        );
    }

    #[test]
    fn missing_manifest_field() {
        assert_eq!(
            error_of("return { name = 'x', init = function() end }"),
            NO_MANIFEST
        );
        assert_eq!(error_of("return { manifest = nil }"), NO_MANIFEST);
        assert_eq!(
            error_of("local M = {}\nM.other = {}\nreturn M"),
            NO_MANIFEST
        );
    }

    #[test]
    fn manifest_that_is_not_a_constructor() {
        assert_eq!(
            error_of("return {\n  manifest = build_manifest(),\n}"),
            "line 2: the manifest must be a table written out in the file, but it is a function call"
        );
        assert_eq!(
            error_of("local M = {}\nM.manifest = \"x\"\nreturn M"),
            "line 2: the manifest must be a table written out in the file, but it is a string"
        );
        assert_eq!(
            error_of("local M = {}\nfunction M.manifest() end\nreturn M"),
            "line 2: the manifest must be a table written out in the file, but it is a function"
        );
    }

    #[test]
    fn manifest_defined_in_a_nested_block() {
        let declared =
            "local manifest\ndo\n  manifest = { name = 'x' }\nend\nreturn { manifest = manifest }";
        assert_eq!(
            error_of(declared),
            "line 5: the manifest must be a table written out in the file, but it is `manifest`, \
             which is declared on line 1 without a value at the top level of the file"
        );
        let global = "if true then cfg = { name = 'x' } end\nreturn { manifest = cfg }";
        assert!(error_of(global).contains("`cfg`, which no top-level statement assigns"));
    }

    #[test]
    fn manifest_changed_after_its_constructor() {
        let through_plugin =
            "local M = { manifest = { name = 'x' } }\nM.manifest.version = '2'\nreturn M";
        assert!(
            error_of(through_plugin)
                .starts_with("line 2: the manifest is changed after its table constructor")
        );
        let through_local = "local manifest = { name = 'x' }\n\nmanifest.config.x = 1\nreturn { manifest = manifest }";
        assert!(error_of(through_local).starts_with("line 3: the manifest is changed"));
        // Changing other fields of the plugin is fine.
        let other =
            "local M = { manifest = { name = 'x' } }\nM.state = {}\nM.state.x = 1\nreturn M";
        assert_eq!(extract_manifest(other), Ok(json!({ "name": "x" })));
    }

    #[test]
    fn two_manifest_fields() {
        assert_eq!(
            error_of("return {\n  manifest = {},\n  [\"manifest\"] = {},\n}"),
            "line 3: the plugin table has two `manifest` fields"
        );
    }

    #[test]
    fn value_that_is_not_a_literal() {
        let source = "return {\n  manifest = {\n    version = get_version(),\n  },\n}";
        assert_eq!(
            error_of(source),
            "line 3: field \"manifest.version\" is not a literal (a function call); write the value itself"
        );
        for (value, what) in [
            ("NAME", "the variable `NAME`"),
            ("config.name", "the variable `config.name`"),
            ("require('x').name", "a value from a function call"),
            ("'a' .. 'b'", "an expression with `..`"),
            ("1 + 2", "an expression with `+`"),
            ("not true", "an expression with `not`"),
            ("- -1", "an expression with `-`"),
            ("#list", "an expression with `#`"),
            ("...", "the vararg `...`"),
            ("function() end", "a function"),
            ("(f())", "a function call"),
        ] {
            assert_eq!(
                value_of(value),
                Err(format!(
                    "line 1: field \"manifest.v\" is not a literal ({what}); write the value itself"
                )),
                "{value}"
            );
        }
    }

    #[test]
    fn error_paths_name_nested_fields() {
        let source = r#"return { manifest = {
            dependencies = {
                { name = "logger", version = "^1.0" },
                { name = "clock", version = VERSION },
            },
            ["odd key"] = { x = f() },
        } }"#;
        assert_eq!(
            error_of(source),
            "line 4: field \"manifest.dependencies[2].version\" is not a literal (the variable `VERSION`); \
             write the value itself"
        );
        assert_eq!(
            manifest_of(r#"{ ["odd key"] = { x = f() } }"#),
            Err(
                r#"line 1: field "manifest["odd key"].x" is not a literal (a function call); write the value itself"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn mixed_constructor() {
        assert_eq!(
            manifest_of("{ tags = { 'a', 'b', kind = 'c' } }"),
            Err("line 1: field \"manifest.tags\" mixes list items and named fields; use one or the other".to_owned())
        );
        assert!(
            manifest_of("{ tags = { kind = 'c', 'a' } }")
                .is_err_and(|e| e.contains("mixes list items"))
        );
    }

    #[test]
    fn nil_in_a_list() {
        assert_eq!(
            manifest_of("{ tags = { 'a', nil, 'b' } }"),
            Err(
                "line 1: field \"manifest.tags[2]\" is nil, which leaves a hole in the list"
                    .to_owned()
            )
        );
    }

    #[test]
    fn duplicate_key() {
        assert_eq!(
            manifest_of("{\n  name = 'a',\n  [\"name\"] = 'b',\n}"),
            Err("line 3: field \"manifest.name\" is set twice".to_owned())
        );
        // A `nil` value still counts as setting the key.
        assert!(manifest_of("{ name = nil, name = 'b' }").is_err_and(|e| e.contains("set twice")));
    }

    #[test]
    fn key_that_is_not_a_string() {
        assert_eq!(
            manifest_of("{ [1] = 'a' }"),
            Err("line 1: field \"manifest\" has a key that is a number; keys must be names or strings \
                 (`name = value` or `[\"name\"] = value`)"
                .to_owned())
        );
        assert!(
            manifest_of("{ [\"\\q\"] = 1 }")
                .is_err_and(|e| e.contains("has a key string that has an invalid escape"))
        );
    }

    #[test]
    fn function_in_the_manifest() {
        assert_eq!(
            manifest_of("{ name = 'x', hooks = { on_load = function() end } }"),
            Err("line 1: field \"manifest.hooks.on_load\" is not a literal (a function); write the value itself"
                .to_owned())
        );
    }

    #[test]
    fn tables_too_deep() {
        let nested = |depth: usize| format!("{}1{}", "{ a = ".repeat(depth), " }".repeat(depth));
        // The manifest itself is level 1.
        assert!(manifest_of(&nested(MAX_TABLE_DEPTH)).is_ok());
        let error = manifest_of(&nested(MAX_TABLE_DEPTH + 1)).unwrap_err();
        assert!(error.ends_with("nests tables more than 64 deep"), "{error}");
        assert!(
            error.starts_with("line 1: field \"manifest.a.a.a"),
            "{error}"
        );
    }

    #[test]
    fn nesting_beyond_lua_limit_is_refused_before_parsing() {
        let braces = format!("return {}{}", "{".repeat(5000), "}".repeat(5000));
        assert!(error_of(&braces).starts_with("line 1: the code nests more than 200 levels deep"));
        let unary = format!("return {{ manifest = {{ v = {}1 }} }}", "- ".repeat(5000));
        assert!(error_of(&unary).contains("nests more than 200 levels"));
        let concat = format!(
            "return {{ manifest = {{ v = 'a'{} }} }}",
            " .. 'a'".repeat(5000)
        );
        assert!(error_of(&concat).contains("nests more than 200 levels"));
        let functions = format!(
            "local f = {}\n{}\nreturn {{ manifest = {{}} }}",
            "function() return ".repeat(300),
            "end ".repeat(300)
        );
        assert!(error_of(&functions).starts_with("line 1: the code nests"));
    }

    #[test]
    fn nesting_just_under_the_limit_parses() {
        // The deepest shapes per level in `full_moon`; the test thread's own
        // small stack would not hold them.
        let ifs = format!(
            "{}\n{}\nreturn {{ manifest = {{ name = 'deep' }} }}",
            "if x then ".repeat(MAX_NESTING),
            "end ".repeat(MAX_NESTING)
        );
        assert_eq!(extract_manifest(&ifs), Ok(json!({ "name": "deep" })));
        let mixed = format!(
            "local t = {}1{}\nreturn {{ manifest = {{ name = 'deep' }} }}",
            "{ f(function() if x then return -(".repeat(MAX_NESTING / 6),
            ") end end) }".repeat(MAX_NESTING / 6)
        );
        assert_eq!(extract_manifest(&mixed), Ok(json!({ "name": "deep" })));
    }

    #[test]
    fn nesting_count_skips_strings_and_comments() {
        let brackets = "{".repeat(1000);
        let source = format!(
            "-- {brackets}\n--[==[ {brackets} ]==]\nlocal s = \"{brackets}\\\"\\z\n {brackets}\"\n\
             local l = [[{brackets}]]\nreturn {{ manifest = {{ name = '{brackets}' }} }}"
        );
        assert_eq!(extract_manifest(&source), Ok(json!({ "name": brackets })));
        // Many short operator chains are not one long one.
        let many = "local x = -1 .. -2 .. -3\n".repeat(500);
        assert!(extract_manifest(&format!("{many}return {{ manifest = {{}} }}")).is_ok());
        let subtractions = format!(
            "local x = 1{}\nreturn {{ manifest = {{}} }}",
            " - 1".repeat(1000)
        );
        assert!(extract_manifest(&subtractions).is_ok());
    }

    #[test]
    fn parse_number_never_panics() {
        for text in [
            "",
            "0x",
            "0X",
            ".",
            "1e",
            "1e+",
            "99999999999999999999999999",
            "0x.",
            "1..2",
        ] {
            let _ = parse_number(text);
        }
    }
}
