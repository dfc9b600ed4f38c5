//! The valid_policy_tree of RFC 5280 6.1.2 (a), one level per depth: each node's valid
//! policy, its expected policy set and the index of its parent in the level above. Levels are
//! rebuilt when nodes are deleted, so indices stay dense.

use std::collections::BTreeSet;

use super::policy::ANY_POLICY;

/// A policy OID (DER contents).
pub(super) type Oid = Vec<u8>;

#[derive(Clone, Debug)]
struct Node {
    valid: Oid,
    expected: BTreeSet<Oid>,
    parent: usize,
}

/// A valid_policy_tree that is not NULL.
#[derive(Debug)]
pub(super) struct Tree {
    levels: Vec<Vec<Node>>,
}

impl Tree {
    /// The initial tree: one anyPolicy node at depth 0.
    pub(super) fn new() -> Self {
        let any = ANY_POLICY.to_vec();
        Self {
            levels: vec![vec![Node {
                valid: any.clone(),
                expected: BTreeSet::from([any]),
                parent: 0,
            }]],
        }
    }

    /// 6.1.3 (d) for a certificate asserting `policies`; `any_allowed`: anyPolicy in it is
    /// processed (inhibit_anyPolicy > 0, or a self-issued intermediate). `None`: the tree
    /// became NULL.
    pub(super) fn add_level(mut self, policies: &BTreeSet<Oid>, any_allowed: bool) -> Option<Self> {
        let any = ANY_POLICY;
        let prev = self.levels.last()?;
        let mut level: Vec<Node> = Vec::new();
        for p in policies.iter().filter(|p| p.as_slice() != any) {
            let matching: Vec<usize> = (0..prev.len())
                .filter(|&k| prev[k].expected.contains(p))
                .collect();
            let parents = if matching.is_empty() {
                (0..prev.len()).filter(|&k| prev[k].valid == any).collect()
            } else {
                matching
            };
            level.extend(parents.into_iter().map(|parent| Node {
                valid: p.clone(),
                expected: BTreeSet::from([p.clone()]),
                parent,
            }));
        }
        if any_allowed && policies.contains(any) {
            for (k, node) in prev.iter().enumerate() {
                for e in &node.expected {
                    if !level.iter().any(|c| c.parent == k && c.valid == *e) {
                        level.push(Node {
                            valid: e.clone(),
                            expected: BTreeSet::from([e.clone()]),
                            parent: k,
                        });
                    }
                }
            }
        }
        self.levels.push(level);
        self.prune()
    }

    /// 6.1.4 (b) for the mappings of the certificate at the deepest level: with mapping allowed,
    /// each issuerDomainPolicy's nodes expect its subjectDomainPolicies (an anyPolicy node
    /// gives rise to a node for it); inhibited, its nodes are deleted.
    pub(super) fn map(mut self, mappings: &[(Oid, Oid)], allowed: bool) -> Option<Self> {
        let issuers: BTreeSet<&Oid> = mappings.iter().map(|(i, _)| i).collect();
        let depth = self.levels.len() - 1;
        for id in issuers {
            let level = self.levels.get_mut(depth)?;
            if !allowed {
                level.retain(|n| n.valid != *id);
                continue;
            }
            let subjects: BTreeSet<Oid> = mappings
                .iter()
                .filter(|(i, _)| i == id)
                .map(|(_, s)| s.clone())
                .collect();
            let mut found = false;
            for node in level.iter_mut().filter(|n| n.valid == *id) {
                node.expected = subjects.clone();
                found = true;
            }
            let any_parent = level
                .iter()
                .find(|n| n.valid == ANY_POLICY)
                .map(|n| n.parent);
            if let (false, Some(parent)) = (found, any_parent) {
                level.push(Node {
                    valid: id.clone(),
                    expected: subjects,
                    parent,
                });
            }
        }
        self.prune()
    }

    /// 6.1.5 (g) (iii): the intersection with the user-initial-policy-set `initial`.
    pub(super) fn intersect(mut self, initial: &BTreeSet<Oid>) -> Option<Self> {
        let any = ANY_POLICY;
        // Nodes whose parent is an anyPolicy node (the valid_policy_node_set), outside the set,
        // are deleted with their descendants.
        let mut doomed: Vec<Vec<bool>> = self.levels.iter().map(|l| vec![false; l.len()]).collect();
        for d in 1..self.levels.len() {
            for (k, node) in self.levels[d].iter().enumerate() {
                let parent_any = self.levels[d - 1][node.parent].valid == any;
                let parent_doomed = doomed[d - 1][node.parent];
                doomed[d][k] = parent_doomed
                    || (parent_any && node.valid != any && !initial.contains(&node.valid));
            }
        }
        self.remove(&doomed);
        // An anyPolicy leaf stands for every policy of the set not yet in the tree.
        let depth = self.levels.len() - 1;
        let leaf_any = self.levels[depth].iter().position(|n| n.valid == any);
        if let (Some(pos), true) = (leaf_any, depth > 0) {
            let parent = self.levels[depth][pos].parent;
            self.levels[depth].remove(pos);
            for p in initial {
                if !self.levels[depth].iter().any(|n| n.valid == *p) {
                    self.levels[depth].push(Node {
                        valid: p.clone(),
                        expected: BTreeSet::from([p.clone()]),
                        parent,
                    });
                }
            }
        }
        self.prune()
    }

    /// The policies of the anchor's policy domain valid for the end entity (RFC 5280 6.1.6;
    /// X.509's authorities-constrained policy set, user-constrained once [`intersect`]ed): the
    /// valid policy of each node whose parent is anyPolicy (the valid_policy_node_set of 6.1.5
    /// (g)), where an anyPolicy node counts only at the deepest level (above it, it only
    /// passes the policies of its children on). Every node left has a descendant at the
    /// deepest level, so each of these policies holds for the end entity, under the OIDs its
    /// CAs mapped it to.
    ///
    /// [`intersect`]: Self::intersect
    pub(super) fn user_policies(&self) -> BTreeSet<Oid> {
        let deepest = self.levels.len().saturating_sub(1);
        let mut out = BTreeSet::new();
        for (d, pair) in self.levels.windows(2).enumerate() {
            let [above, level] = pair else { continue };
            for node in level {
                let parent_any = above
                    .get(node.parent)
                    .is_some_and(|p| p.valid == ANY_POLICY);
                if parent_any && (node.valid != ANY_POLICY || d + 1 == deepest) {
                    out.insert(node.valid.clone());
                }
            }
        }
        out
    }

    /// Deletes flagged nodes and their descendants, reindexing parents.
    fn remove(&mut self, doomed: &[Vec<bool>]) {
        let mut remap: Vec<Option<usize>> = Vec::new();
        for (d, level) in self.levels.iter_mut().enumerate() {
            let flags = doomed.get(d);
            let mut next_remap = Vec::with_capacity(level.len());
            let mut kept = Vec::with_capacity(level.len());
            for (k, mut node) in std::mem::take(level).into_iter().enumerate() {
                let parent = if d == 0 {
                    Some(0)
                } else {
                    remap.get(node.parent).copied().flatten()
                };
                let gone = flags.and_then(|f| f.get(k)).copied().unwrap_or(false);
                match parent {
                    Some(p) if !gone => {
                        node.parent = p;
                        next_remap.push(Some(kept.len()));
                        kept.push(node);
                    }
                    _ => next_remap.push(None),
                }
            }
            *level = kept;
            remap = next_remap;
        }
    }

    /// Deletes the nodes above the deepest level that have no child, repeatedly; `None` when
    /// the root goes (the tree is NULL).
    fn prune(mut self) -> Option<Self> {
        for d in (0..self.levels.len().saturating_sub(1)).rev() {
            let (upper, lower) = self.levels.split_at_mut(d + 1);
            let (level, below) = (upper.last_mut()?, lower.first_mut()?);
            let mut has_child = vec![false; level.len()];
            for node in below.iter() {
                if let Some(flag) = has_child.get_mut(node.parent) {
                    *flag = true;
                }
            }
            let mut remap = vec![0; level.len()];
            let mut kept = Vec::with_capacity(level.len());
            for (k, node) in std::mem::take(level).into_iter().enumerate() {
                if has_child[k] {
                    remap[k] = kept.len();
                    kept.push(node);
                }
            }
            *level = kept;
            for node in below.iter_mut() {
                node.parent = remap[node.parent];
            }
        }
        (!self.levels.first()?.is_empty()).then_some(self)
    }
}
