//! The shape of a pipeline's graph, by name: which node reads which, an order in which
//! every node comes after the nodes it reads, and, when there is none, the cycle that
//! prevents it.
//!
//! [`PipelineBuilder::build`](super::PipelineBuilder::build) and the pipeline-file
//! compiler both check their graph here, so a missing input or a cycle is found the same
//! way wherever a pipeline is declared; each words its own message. A [`Dag`] sees only
//! names and inputs: it never builds, hashes or runs a node.

use std::collections::{BTreeSet, HashMap};

/// Nodes by name, each with the (indices of the) nodes it reads, in declared order.
#[derive(Debug, Clone)]
pub struct Dag<'a> {
    names: Vec<&'a str>,
    inputs: Vec<Vec<usize>>,
}

/// An input that names no node: the first one, in node order then input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInput<'a> {
    /// The index of the node that reads it.
    pub node: usize,
    /// The name it reads.
    pub input: &'a str,
}

/// Which node comes first among nodes whose inputs are all placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// The one declared first: each node as early as its inputs allow.
    Declared,
    /// In passes over the declarations: each pass places, in declared order, every node
    /// whose inputs are placed (by then), until a pass places nothing.
    Passes,
}

/// Why the nodes have no order: the nodes on one cycle, and every node that cannot be
/// placed (those on a cycle and those reading one), both as indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// One cycle in data-flow order (each node reads the one before it, the first reads
    /// the last), starting at the node of the cycle declared first.
    pub path: Vec<usize>,
    /// Every node on a cycle or reading one, in declared order.
    pub stuck: Vec<usize>,
}

impl<'a> Dag<'a> {
    /// The graph of `nodes` (name, names of its inputs), in declared order. Names must be
    /// unique (the caller checks them, with its own message).
    pub fn new<I>(nodes: I) -> Result<Dag<'a>, UnknownInput<'a>>
    where
        I: IntoIterator<Item = (&'a str, &'a [String])>,
    {
        let nodes: Vec<(&str, &[String])> = nodes.into_iter().collect();
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        let mut inputs = Vec::with_capacity(nodes.len());
        for (node, (_, reads)) in nodes.iter().enumerate() {
            let resolved = reads
                .iter()
                .map(|input| index.get(input.as_str()).copied().ok_or(input.as_str()))
                .collect::<Result<Vec<usize>, &str>>()
                .map_err(|input| UnknownInput { node, input })?;
            inputs.push(resolved);
        }
        Ok(Dag {
            names: nodes.iter().map(|(name, _)| *name).collect(),
            inputs,
        })
    }

    /// Every node index, each after the nodes it reads, with `ties` broken as said; or
    /// the cycle that makes it impossible.
    pub fn order(&self, ties: Ties) -> Result<Vec<usize>, Cycle> {
        let n = self.inputs.len();
        let mut missing: Vec<usize> = self.inputs.iter().map(Vec::len).collect();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, inputs) in self.inputs.iter().enumerate() {
            for &input in inputs {
                readers[input].push(i);
            }
        }
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        let mut cursor = 0;
        loop {
            let next = match ties {
                Ties::Declared => ready.first(),
                // The rest of this pass, else the next pass from the start.
                Ties::Passes => ready.range(cursor..).next().or(ready.first()),
            };
            let Some(i) = next.copied() else { break };
            ready.remove(&i);
            order.push(i);
            cursor = i + 1;
            for &r in &readers[i] {
                missing[r] -= 1;
                if missing[r] == 0 {
                    ready.insert(r);
                }
            }
        }
        if order.len() < n {
            return Err(Cycle {
                path: self.find_cycle().unwrap_or_default(),
                stuck: (0..n).filter(|&i| missing[i] > 0).collect(),
            });
        }
        Ok(order)
    }

    /// A cycle's names as `` `a` → `b` → `a` ``: the path, back to its first node.
    pub fn path_names(&self, cycle: &Cycle) -> String {
        cycle
            .path
            .iter()
            .chain(cycle.path.first())
            .map(|&i| format!("`{}`", self.names[i]))
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// The names of the nodes that cannot be placed, as `` `a`, `b` ``.
    pub fn stuck_names(&self, cycle: &Cycle) -> String {
        cycle
            .stuck
            .iter()
            .map(|&i| format!("`{}`", self.names[i]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first cycle a depth-first walk finds, visiting nodes in declared order and
    /// each node's inputs in order (see [`Cycle::path`]).
    fn find_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Unvisited,
            OnPath,
            Done,
        }
        fn visit(
            i: usize,
            inputs: &[Vec<usize>],
            state: &mut [State],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[i] = State::OnPath;
            path.push(i);
            for &j in &inputs[i] {
                match state[j] {
                    State::OnPath => {
                        let start = path.iter().position(|&p| p == j).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[start..].to_vec();
                        // In data-flow order, from the node declared first.
                        cycle.reverse();
                        let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                        cycle.rotate_left(first);
                        return Some(cycle);
                    }
                    State::Unvisited => {
                        if let Some(c) = visit(j, inputs, state, path) {
                            return Some(c);
                        }
                    }
                    State::Done => {}
                }
            }
            path.pop();
            state[i] = State::Done;
            None
        }
        let mut state = vec![State::Unvisited; self.inputs.len()];
        let mut path = Vec::new();
        (0..self.inputs.len()).find_map(|i| {
            (state[i] == State::Unvisited)
                .then(|| visit(i, &self.inputs, &mut state, &mut path))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag<'a>(nodes: &'a [(&'a str, Vec<String>)]) -> Dag<'a> {
        Dag::new(nodes.iter().map(|(n, i)| (*n, i.as_slice()))).unwrap()
    }

    fn reads(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ties_are_broken_by_declaration_or_by_passes() {
        // x reads y; y and z read nothing.
        let nodes = [("x", reads(&["y"])), ("y", reads(&[])), ("z", reads(&[]))];
        let g = dag(&nodes);
        assert_eq!(g.order(Ties::Declared), Ok(vec![1, 0, 2]));
        assert_eq!(g.order(Ties::Passes), Ok(vec![1, 2, 0]));
        // Within a pass, a node placed early readies the later ones.
        let nodes = [
            ("a", reads(&[])),
            ("b", reads(&["a"])),
            ("c", reads(&["d"])),
            ("d", reads(&["b"])),
        ];
        assert_eq!(dag(&nodes).order(Ties::Passes), Ok(vec![0, 1, 3, 2]));
    }

    #[test]
    fn unknown_inputs_are_named_in_node_then_input_order() {
        let nodes = [
            ("a", reads(&["s"])),
            ("b", reads(&["a", "q", "r"])),
            ("s", reads(&[])),
        ];
        let err = Dag::new(nodes.iter().map(|(n, i)| (*n, i.as_slice()))).unwrap_err();
        assert_eq!(
            err,
            UnknownInput {
                node: 1,
                input: "q"
            }
        );
    }

    #[test]
    fn a_cycle_is_given_in_data_flow_order_from_its_first_declared_node() {
        let nodes = [
            ("s", reads(&[])),
            ("a", reads(&["s", "c"])),
            ("b", reads(&["a"])),
            ("c", reads(&["b"])),
            ("d", reads(&["c"])),
            ("e", reads(&["s"])),
        ];
        let g = dag(&nodes);
        let cycle = g.order(Ties::Declared).unwrap_err();
        assert_eq!(cycle.path, [1, 2, 3]);
        assert_eq!(cycle.stuck, [1, 2, 3, 4]);
        assert_eq!(g.path_names(&cycle), "`a` → `b` → `c` → `a`");
        assert_eq!(g.stuck_names(&cycle), "`a`, `b`, `c`, `d`");
        assert_eq!(g.order(Ties::Passes).unwrap_err(), cycle);
        // A node reading itself.
        let nodes = [("a", reads(&["a"]))];
        let g = dag(&nodes);
        let cycle = g.order(Ties::Passes).unwrap_err();
        assert_eq!(g.path_names(&cycle), "`a` → `a`");
    }
}
