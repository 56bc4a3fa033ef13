//! Packet functions from Rust closures.

use std::sync::Arc;

use arrow::datatypes::FieldRef;

use super::{FunctionError, FunctionWorker, PacketFunction};
use crate::model::Datum;

/// The closure type: input values (in input-schema order, each with its column name) to
/// output values.
pub type PacketClosure =
    dyn Fn(&[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> + Send + Sync;

/// A packet function backed by a Rust closure; its workers share the closure.
pub struct ClosureFunction {
    name: String,
    version: String,
    input: Vec<FieldRef>,
    output: Vec<FieldRef>,
    body: Arc<PacketClosure>,
}

impl ClosureFunction {
    /// A function called `name` (version `v0.0`) with the given schemas and body.
    pub fn new(
        name: impl Into<String>,
        input: Vec<FieldRef>,
        output: Vec<FieldRef>,
        body: impl Fn(&[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> + Send + Sync + 'static,
    ) -> Self {
        ClosureFunction {
            name: name.into(),
            version: "v0.0".into(),
            input,
            output,
            body: Arc::new(body),
        }
    }

    /// Sets the version (only its major number enters the identity).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
}

impl PacketFunction for ClosureFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn type_id(&self) -> &str {
        "rust.closure.v0"
    }
    fn input_schema(&self) -> &[FieldRef] {
        &self.input
    }
    fn output_schema(&self) -> &[FieldRef] {
        &self.output
    }
    fn start_worker(&self) -> Result<Box<dyn FunctionWorker>, FunctionError> {
        Ok(Box::new(ClosureWorker(self.body.clone())))
    }
}

struct ClosureWorker(Arc<PacketClosure>);

impl FunctionWorker for ClosureWorker {
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> {
        (self.0)(packet)
    }
}
