//! Builtins: functions that the program embedding orcapod registers by name, for
//! pipeline files to use with `builtin: NAME`. A registry only; it never runs a function.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::FieldRef;

use crate::function::PacketFunction;

/// What a function node asks of a builtin.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRequest<'a> {
    /// The identity name the node gives the function (`function_name`, default the
    /// node's name).
    pub function_name: &'a str,
    /// The version the node asks for (`version`, default `v0.0`).
    pub version: &'a str,
    /// The packet columns of the node's input: what the function will be given.
    pub input: &'a [FieldRef],
}

/// Makes a builtin function for one node, or says why it cannot take that input.
pub type BuiltinFactory =
    dyn Fn(&BuiltinRequest<'_>) -> Result<Arc<dyn PacketFunction>, String> + Send + Sync;

/// Functions that pipeline files may name with `builtin: NAME`: registered by the
/// program embedding orcapod (the `orcapod` command line registers a few of its own).
#[derive(Clone, Default)]
pub struct Builtins {
    entries: BTreeMap<String, (String, Arc<BuiltinFactory>)>,
}

impl fmt::Debug for Builtins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Builtins {
    /// No builtins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name`, described by `doc`; `factory` makes the function for one node.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        doc: impl Into<String>,
        factory: impl Fn(&BuiltinRequest<'_>) -> Result<Arc<dyn PacketFunction>, String>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.entries
            .insert(name.into(), (doc.into(), Arc::new(factory)));
        self
    }

    /// Every builtin's name and description, by name.
    pub fn describe(&self) -> Vec<(&str, &str)> {
        self.entries
            .iter()
            .map(|(n, (d, _))| (n.as_str(), d.as_str()))
            .collect()
    }

    pub(super) fn get(&self, name: &str) -> Option<&Arc<BuiltinFactory>> {
        self.entries.get(name).map(|(_, f)| f)
    }

    pub(super) fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }
}
