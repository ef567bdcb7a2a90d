//! One loaded version of the flag file, compiled for evaluation.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bucket::{BUCKETS, bucket_with_flip, flip_for_seed, seed_for_salt};
use crate::counters::{Counters, DecisionCounts, StripeIndex, Tally, current_stripe};
use crate::decision::{Context, Decision, Reason};
use crate::error::Problems;
use crate::idset::IdSet;
use crate::model::{BucketBy, ChatType, FlagDef, FlagFile};
use crate::names::NameIndex;
use crate::outcomes::{
    OFF, ON_GROUP, ON_ROLLOUT, Outcome, OutcomeCounters, OutcomeCounts, Tallied,
};
use crate::validate::parse_flag_file;

/// A flag resolved once by name, to be evaluated with no string hashing.
///
/// A handle belongs to the [`crate::FlagStore`] that made it and stays valid
/// across reloads: while the file has no flag of its name it evaluates as
/// `unknown_flag`, and works again once the flag is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(pub(crate) u32);

impl Handle {
    /// The handle's number, stable for the life of its store (for FFI).
    pub const fn index(self) -> u32 {
        self.0
    }

    pub const fn from_index(index: u32) -> Handle {
        Handle(index)
    }
}

/// Every flag name a store has ever seen, each with a stable slot number:
/// the [`Handle`]s. It only grows, so a handle never changes meaning.
///
/// It also keeps each slot's decision counters, so that they outlive the
/// snapshot that made them and carry over to the next version of the file.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    slots: HashMap<Box<str>, u32>,
    /// Whether compiled flags count their decisions (for metrics).
    counting: bool,
    /// Per slot: the counters of its flag, while the file defines it.
    counters: Vec<Option<Arc<Counters>>>,
    /// Decisions for flags the file does not define, store-wide: counting
    /// them per name would mean allocating for every name ever asked for.
    unknown: Option<Arc<Counters>>,
    /// Whether compiled flags count outcomes and complaints.
    counting_outcomes: bool,
    /// Per slot: the outcome counters of its flag, while the file defines it.
    outcomes: Vec<Option<Arc<OutcomeCounters>>>,
}

impl Registry {
    pub(crate) fn new(counting: bool, counting_outcomes: bool) -> Registry {
        Registry {
            slots: HashMap::new(),
            counting,
            counters: Vec::new(),
            unknown: counting.then(Arc::default),
            counting_outcomes,
            outcomes: Vec::new(),
        }
    }

    pub(crate) fn slot(&mut self, name: &str) -> u32 {
        // Looked up first: on a reload nearly every name is known, and
        // `entry` would box a copy of each only to drop it.
        if let Some(&slot) = self.slots.get(name) {
            return slot;
        }
        let next = self.slots.len() as u32;
        self.slots.insert(name.into(), next);
        next
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Keeps the counters of the slots that `slots` (slot → position) gives
    /// a flag, creating the missing ones, and drops the others: a flag
    /// removed from the file and added back later starts from zero.
    fn counters_for(&mut self, slots: &[u32]) -> Vec<Option<Arc<Counters>>> {
        if !self.counting {
            return vec![None; slots.len()];
        }
        keep_for(&mut self.counters, slots)
    }

    /// The outcome counters of the flags at each position of a new version
    /// (`slots`: slot → position), kept and dropped as
    /// [`Registry::counters_for`] does; `None` when outcomes are not counted.
    fn outcomes_for(&mut self, slots: &[u32], flags: usize) -> Option<Box<[Arc<OutcomeCounters>]>> {
        if !self.counting_outcomes {
            return None;
        }
        let kept = keep_for(&mut self.outcomes, slots);
        let mut by_position: Vec<Option<Arc<OutcomeCounters>>> = vec![None; flags];
        for (counters, &position) in kept.into_iter().zip(slots) {
            if position != NO_FLAG {
                by_position[position as usize] = counters;
            }
        }
        Some(
            by_position
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
        )
    }
}

/// Keeps `kept[slot]` for every slot that `slots` gives a flag (making the
/// missing ones), drops the rest, and returns a copy by slot.
fn keep_for<T: Default>(kept: &mut Vec<Option<Arc<T>>>, slots: &[u32]) -> Vec<Option<Arc<T>>> {
    kept.resize(slots.len(), None);
    for (kept, &position) in kept.iter_mut().zip(slots) {
        if position == NO_FLAG {
            *kept = None;
        } else if kept.is_none() {
            *kept = Some(Arc::default());
        }
    }
    kept.clone()
}

const NO_FLAG: u32 = u32::MAX;

/// One flag with everything evaluation needs precomputed at load time,
/// hot fields only and one cache line each: a message's flags are read one
/// after another, so a flag should cost one line (it took two or three).
#[derive(Debug, Clone)]
#[repr(align(64))]
struct CompiledFlag {
    excluded: IdSet,
    /// xxh3's per-seed constant for the rollout hash ([`flip_for_seed`]).
    flip: u64,
    /// `None` when the store does not count decisions.
    counters: Option<Arc<Counters>>,
    /// `None` when the flag has no `user_groups`: most flags, so the group
    /// step costs them one test and their line holds no group data.
    groups: Option<Box<GroupRule>>,
    /// `round(percentage × 1000)`; 100 000 means everyone.
    threshold: u32,
    enabled: bool,
    /// Bit per [`crate::ChatType`]; 0 means every type.
    chat_types: u8,
    bucket_by: BucketBy,
}

/// A flag's `user_groups` step.
#[derive(Debug, Clone)]
struct GroupRule {
    /// Members of the flag's `user_groups` that the file lists.
    members: IdSet,
    /// The flag's `user_groups`, matched against the context's groups.
    names: Box<[Box<str>]>,
}

impl CompiledFlag {
    fn new(name: &str, def: &FlagDef, file: &FlagFile) -> CompiledFlag {
        let groups = (!def.user_groups.is_empty()).then(|| {
            let members: Vec<i64> = def
                .user_groups
                .iter()
                .filter_map(|g| file.groups.iter().find(|(name, _)| name == g))
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect();
            Box::new(GroupRule {
                members: IdSet::new(&members),
                names: def.user_groups.iter().map(|g| g.as_str().into()).collect(),
            })
        });
        CompiledFlag {
            excluded: IdSet::new(&def.exclude_chats),
            flip: flip_for_seed(seed_for_salt(def.salt.as_deref().unwrap_or(name))),
            counters: None,
            groups,
            threshold: def.rollout_percentage.millis(),
            enabled: def.enabled,
            chat_types: def.chat_types.iter().fold(0, |mask, t| mask | t.bit()),
            bucket_by: def.bucket_by,
        }
    }

    // Inlined into each caller: a call costs as much as a step (saving
    // registers, and the decision returned through memory).
    #[inline(always)]
    fn evaluate(&self, ctx: &Context<'_>) -> Decision {
        let decision = self.decide(ctx);
        // `count`'s body written out: calling it changed how callers in
        // flags-ffi were inlined (Python `for_message` 20 ns slower).
        if let Some(counters) = &self.counters {
            counters.record(Tally::of(&decision));
        }
        decision
    }

    #[inline(always)]
    fn count(&self, decision: &Decision) {
        if let Some(counters) = &self.counters {
            counters.record(Tally::of(decision));
        }
    }

    /// [`CompiledFlag::evaluate`] for batches, which look the thread's
    /// stripe up once.
    #[inline(always)]
    fn evaluate_on(&self, ctx: &Context<'_>, stripe: StripeIndex) -> Decision {
        let decision = self.decide(ctx);
        if let Some(counters) = &self.counters {
            counters.record_on(stripe, Tally::of(&decision));
        }
        decision
    }

    /// docs/spec.md "Evaluation", steps 2–8, first match wins.
    #[inline(always)]
    fn decide(&self, ctx: &Context<'_>) -> Decision {
        if !self.enabled {
            return Decision::fixed(false, Reason::Disabled);
        }
        if let Some(chat) = ctx.chat_id
            && self.excluded.contains(chat)
        {
            return Decision::fixed(false, Reason::ChatExcluded);
        }
        if self.chat_types != 0 && ctx.chat_type.is_none_or(|t| self.chat_types & t.bit() == 0) {
            return Decision::fixed(false, Reason::ChatType);
        }
        if let Some(groups) = &self.groups
            && groups.match_user(ctx)
        {
            return Decision::fixed(true, Reason::Group);
        }
        if self.threshold >= BUCKETS {
            return Decision::fixed(true, Reason::Rollout);
        }
        let key = match self.bucket_by {
            BucketBy::User => ctx.user_id,
            BucketBy::Chat => ctx.chat_id,
        };
        let Some(key) = key else {
            return Decision::fixed(false, Reason::MissingKey);
        };
        let bucket = bucket_with_flip(key, self.flip);
        Decision {
            enabled: bucket < self.threshold,
            reason: Reason::Rollout,
            bucket: Some(bucket),
        }
    }
}

impl GroupRule {
    /// Whether the message's user is in one of the groups.
    #[inline(always)]
    fn match_user(&self, ctx: &Context<'_>) -> bool {
        if let Some(user) = ctx.user_id
            && self.members.contains(user)
        {
            return true;
        }
        ctx.groups
            .iter()
            .any(|g| self.names.iter().any(|name| **name == **g))
    }
}

/// One loaded, validated version of the flag file, compiled for evaluation.
///
/// Immutable: a reload builds a new `Snapshot` and swaps it in whole, so
/// everything asked of one snapshot sees one version of the file.
#[derive(Debug)]
pub struct Snapshot {
    file: FlagFile,
    flags: Box<[CompiledFlag]>,
    index: NameIndex,
    /// Handle slot → position in `flags`, or `NO_FLAG`.
    slots: Box<[u32]>,
    generation: u64,
    fingerprint: u64,
    /// The store's count of `unknown_flag` decisions; `None` when the store
    /// does not count.
    unknown: Option<Arc<Counters>>,
    /// Each flag's outcome counters, by position; `None` when the store
    /// does not count outcomes.
    outcomes: Option<Box<[Arc<OutcomeCounters>]>>,
}

impl Snapshot {
    /// Validates `text` and compiles it, outside any store (generation 0,
    /// decisions and outcomes not counted).
    pub fn from_json(text: &str) -> Result<Snapshot, Problems> {
        let file = parse_flag_file(text)?;
        Ok(Snapshot::compile(
            file,
            &mut Registry::default(),
            0,
            fingerprint(text.as_bytes()),
        ))
    }

    pub(crate) fn compile(
        file: FlagFile,
        registry: &mut Registry,
        generation: u64,
        fingerprint: u64,
    ) -> Snapshot {
        let mut flags: Box<[CompiledFlag]> = file
            .flags
            .iter()
            .map(|(name, def)| CompiledFlag::new(name, def, &file))
            .collect();
        let index = NameIndex::new(file.flags.iter().map(|(name, _)| name.as_str()));
        let positions: Vec<u32> = file
            .flags
            .iter()
            .map(|(name, _)| registry.slot(name))
            .collect();
        let mut slots = vec![NO_FLAG; registry.len()].into_boxed_slice();
        for (position, slot) in positions.into_iter().enumerate() {
            slots[slot as usize] = position as u32;
        }
        for (&position, counters) in slots.iter().zip(registry.counters_for(&slots)) {
            if position != NO_FLAG {
                flags[position as usize].counters = counters;
            }
        }
        let outcomes = registry.outcomes_for(&slots, flags.len());
        Snapshot {
            file,
            flags,
            index,
            slots,
            generation,
            fingerprint,
            unknown: registry.unknown.clone(),
            outcomes,
        }
    }

    /// The file this snapshot was compiled from, defaults filled in.
    pub fn file(&self) -> &FlagFile {
        &self.file
    }

    /// 1 for the first file a store loaded, +1 for every new version since.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// xxh3-64 of the file's bytes: which version of the file this is.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Number of flags in the file.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Flag names in file order: position i here is position i in the
    /// outputs of [`Snapshot::evaluate_all`] and [`Snapshot::enabled_bits`].
    pub fn flag_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.file.flags.iter().map(|(name, _)| name.as_str())
    }

    /// The position of flag `name` in file order.
    #[inline]
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index
            .get(name, |i| self.file.flags[i as usize].0.as_str())
            .map(|i| i as usize)
    }

    /// Evaluates flag `name`; `unknown_flag` (off) if the file has none.
    #[inline]
    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        match self.position(name) {
            Some(i) => self.flags[i].evaluate(ctx),
            None => self.unknown_flag(),
        }
    }

    /// Whether flag `name` is on; `false` for a flag the file does not define.
    #[inline]
    pub fn is_enabled(&self, name: &str, ctx: &Context<'_>) -> bool {
        self.evaluate(name, ctx).enabled
    }

    /// Evaluates the flag behind `handle`; `unknown_flag` if this version of
    /// the file does not define it.
    #[inline]
    pub fn evaluate_handle(&self, handle: Handle, ctx: &Context<'_>) -> Decision {
        match self.flag(handle) {
            Some(flag) => flag.evaluate(ctx),
            None => self.unknown_flag(),
        }
    }

    /// The position in file order of the flag behind `handle`, if this
    /// version defines it.
    #[inline]
    pub fn handle_position(&self, handle: Handle) -> Option<usize> {
        match self.slots.get(handle.0 as usize) {
            Some(&i) if i != NO_FLAG => Some(i as usize),
            _ => None,
        }
    }

    /// Evaluates the flag at `position` (an unknown flag past `len()`),
    /// handing a known flag's decision to `decided` before counting it: a
    /// [`crate::Message`] exposes it there, while the decision is still in
    /// registers (after the count it had to be reloaded from the stack, a
    /// third of exposure's cost).
    #[inline(always)]
    pub(crate) fn evaluate_known(
        &self,
        position: usize,
        ctx: &Context<'_>,
        decided: impl FnOnce(&Decision),
    ) -> Decision {
        match self.flags.get(position) {
            Some(flag) => {
                let decision = flag.decide(ctx);
                decided(&decision);
                flag.count(&decision);
                decision
            }
            None => self.unknown_flag(),
        }
    }

    #[inline]
    fn flag(&self, handle: Handle) -> Option<&CompiledFlag> {
        match self.slots.get(handle.0 as usize) {
            Some(&i) if i != NO_FLAG => self.flags.get(i as usize),
            _ => None,
        }
    }

    #[inline]
    fn unknown_flag(&self) -> Decision {
        if let Some(unknown) = &self.unknown {
            unknown.record(Tally::UNKNOWN_FLAG);
        }
        Decision::UNKNOWN
    }

    /// Evaluates the flag at `position` in file order.
    #[inline]
    pub fn evaluate_at(&self, position: usize, ctx: &Context<'_>) -> Option<Decision> {
        self.flags.get(position).map(|f| f.evaluate(ctx))
    }

    /// Evaluates every flag, in file order, into `out[..self.len()]`.
    /// Returns how many were written (fewer if `out` is shorter).
    pub fn evaluate_all(&self, ctx: &Context<'_>, out: &mut [Decision]) -> usize {
        let n = out.len().min(self.flags.len());
        let stripe = current_stripe();
        for (slot, flag) in out[..n].iter_mut().zip(self.flags.iter()) {
            *slot = flag.evaluate_on(ctx, stripe);
        }
        n
    }

    /// Evaluates each of `handles` into the same position of `out`.
    pub fn evaluate_handles(&self, handles: &[Handle], ctx: &Context<'_>, out: &mut [Decision]) {
        let stripe = current_stripe();
        for (slot, &handle) in out.iter_mut().zip(handles) {
            *slot = match self.flag(handle) {
                Some(flag) => flag.evaluate_on(ctx, stripe),
                None => self.unknown_flag(),
            };
        }
    }

    /// Sets bit i (word i / 64, bit i % 64) of `out` when the flag at
    /// position i is on; clears the others. Returns the number of flags, so a
    /// caller whose `out` holds fewer than `len()` bits knows to grow it.
    pub fn enabled_bits(&self, ctx: &Context<'_>, out: &mut [u64]) -> usize {
        out.fill(0);
        let stripe = current_stripe();
        for (i, flag) in self.flags.iter().enumerate().take(out.len() * 64) {
            out[i / 64] |= u64::from(flag.evaluate_on(ctx, stripe).enabled) << (i % 64);
        }
        self.flags.len()
    }

    /// The decision counts of the flag at `position` in file order; `None`
    /// when there is no such flag or the store does not count.
    pub(crate) fn decision_counts_at(&self, position: usize) -> Option<DecisionCounts> {
        let counters = self.flags.get(position)?.counters.as_ref()?;
        Some(counters.decision_counts())
    }

    /// How many evaluations asked for a flag the file did not define.
    pub(crate) fn unknown_flag_decisions(&self) -> Option<u64> {
        Some(self.unknown.as_ref()?.total(Tally::UNKNOWN_FLAG))
    }

    /// Whether this snapshot counts outcomes and complaints.
    pub fn counts_outcomes(&self) -> bool {
        self.outcomes.is_some()
    }

    /// Counts `outcome` for the flags a binding exposed, from its own
    /// exposure bits (a [`crate::Message`] does this for you): bit i of
    /// word i / 64 is the flag at position i. A bit of `on` counts the
    /// flag in the `on` cohort, through its group when the same bit is set
    /// in `on_via_group` and through the rollout otherwise; a bit of `off`
    /// (and not of `on`) in the `off` cohort. `chat_type` is the message's
    /// ([`crate::Segment`]). Bits past the flag count are ignored.
    pub fn record_outcome_bits(
        &self,
        on: &[u64],
        on_via_group: &[u64],
        off: &[u64],
        chat_type: Option<ChatType>,
        outcome: Outcome,
    ) {
        let Some(counters) = self.outcomes.as_deref() else {
            return;
        };
        let (tallied, stripe) = (Tallied::new(outcome, chat_type), current_stripe());
        for word in 0..on.len().max(off.len()) {
            let on = on.get(word).copied().unwrap_or(0);
            let group = on_via_group.get(word).copied().unwrap_or(0) & on;
            let off = off.get(word).copied().unwrap_or(0) & !on;
            for (bits, kind) in [(group, ON_GROUP), (on & !group, ON_ROLLOUT), (off, OFF)] {
                record_set_bits(counters, stripe, tallied, kind, word * 64, 1, bits);
            }
        }
    }

    /// Counts `outcome` for the flags exposed in `pairs`, two bits per flag
    /// from position `first` on (the layout of a [`crate::Message`]'s
    /// exposures: low bit on, high bit the rollout step decided; so `01`
    /// is on through a group, `11` on through the rollout, `10` off).
    #[inline]
    pub(crate) fn record_outcome_pairs(
        &self,
        first: usize,
        pairs: &[u64],
        outcome: Outcome,
        chat_type: Option<ChatType>,
    ) {
        const LOW_BITS: u64 = 0x5555_5555_5555_5555;
        let Some(counters) = self.outcomes.as_deref() else {
            return;
        };
        let (tallied, stripe) = (Tallied::new(outcome, chat_type), current_stripe());
        for (word, &bits) in pairs.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let on = bits & LOW_BITS;
            let rollout = bits >> 1 & LOW_BITS;
            for (bits, kind) in [
                (on & !rollout, ON_GROUP),
                (on & rollout, ON_ROLLOUT),
                (rollout & !on, OFF),
            ] {
                record_set_bits(counters, stripe, tallied, kind, first + word * 32, 2, bits);
            }
        }
    }

    /// Counts one complaint about flag `name`. Returns `false`, counting
    /// nothing, when this version of the file does not define `name`.
    pub fn complaint(&self, name: &str) -> bool {
        let Some(position) = self.position(name) else {
            return false;
        };
        if let Some(counters) = self.outcomes.as_deref() {
            counters[position].complain();
        }
        true
    }

    /// The outcome counts of the flag at `position`; `None` when there is
    /// no such flag or the store does not count outcomes.
    pub(crate) fn outcome_counts_at(&self, position: usize) -> Option<OutcomeCounts> {
        Some(self.outcomes.as_deref()?.get(position)?.counts())
    }

    /// A [`crate::Message`] over this snapshot, for one message.
    #[inline]
    pub fn message<'c>(&self, ctx: Context<'c>) -> crate::Message<'c, &Snapshot> {
        crate::Message::new(self, ctx)
    }
}

/// Counts `tallied` in the segment of `kind` for the flag at
/// `first + i / bits_per_flag` for each set bit `i` of `bits` (positions
/// past the flags are ignored).
#[inline(always)]
fn record_set_bits(
    counters: &[Arc<OutcomeCounters>],
    stripe: StripeIndex,
    tallied: Tallied,
    kind: usize,
    first: usize,
    bits_per_flag: usize,
    mut bits: u64,
) {
    if bits == 0 {
        return;
    }
    let segment = tallied.segment(kind);
    while bits != 0 {
        let position = first + bits.trailing_zeros() as usize / bits_per_flag;
        bits &= bits - 1;
        if let Some(flag) = counters.get(position) {
            flag.record_on(stripe, segment, tallied);
        }
    }
}

/// The fingerprint of a file's bytes.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message reads its flags one after another: each must stay one
    /// cache line, or evaluation slows by a line fetch per flag.
    #[test]
    fn a_compiled_flag_is_one_cache_line() {
        crate::counters::tests::assert_one_cache_line::<CompiledFlag>();
    }
}
