//! `ff_context` → `flags_core::Context`, on the stack.

use std::mem::MaybeUninit;

use flags_core::{ChatType, Context};

use crate::args;
use crate::error::Failure;
use crate::types::{
    FF_CHAT_TYPE_CHANNEL, FF_CHAT_TYPE_GROUP, FF_CHAT_TYPE_NONE, FF_CHAT_TYPE_PRIVATE,
    FF_CHAT_TYPE_SUPERGROUP, FF_HAS_CHAT_ID, FF_HAS_USER_ID, FF_INVALID_ARGUMENT, ff_context,
    ff_str,
};

/// Groups converted in a stack array; a message naming more groups than
/// this (rare: bots know a handful) costs one allocation.
pub(crate) const STACK_GROUPS: usize = 16;

const KNOWN_PRESENT_BITS: u32 = FF_HAS_USER_ID | FF_HAS_CHAT_ID;

#[inline]
fn chat_type(number: u32) -> Result<Option<ChatType>, Failure> {
    Ok(Some(match number {
        FF_CHAT_TYPE_NONE => return Ok(None),
        FF_CHAT_TYPE_PRIVATE => ChatType::Private,
        FF_CHAT_TYPE_GROUP => ChatType::Group,
        FF_CHAT_TYPE_SUPERGROUP => ChatType::Supergroup,
        FF_CHAT_TYPE_CHANNEL => ChatType::Channel,
        other => {
            return Err(Failure::new(
                FF_INVALID_ARGUMENT,
                format!("`ctx.chat_type` is {other}; expected 0 (none) to 4 (FF_CHAT_TYPE_*)"),
            ));
        }
    }))
}

#[cold]
#[inline(never)]
fn bad_group(index: usize, failure: Failure) -> Failure {
    failure.map_message(|m| m.replacen("ctx.groups[]", &format!("ctx.groups[{index}]"), 1))
}

/// Checks one group name, naming its index only if it is bad.
///
/// # Safety
/// As for [`args::ff_str_arg`] on `group`'s pointer and length.
#[inline(always)]
unsafe fn group_name<'a>(group: &ff_str, index: usize) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from this function's contract.
    match unsafe { args::ff_str_arg(group.ptr, group.len, "ctx.groups[]") } {
        Ok(name) => Ok(name),
        Err(failure) => Err(bad_group(index, failure)),
    }
}

/// Checks `raw` and runs `evaluate` with the equivalent
/// `flags_core::Context`, built without allocating (up to
/// [`STACK_GROUPS`] groups).
///
/// # Safety
/// `raw.groups` must be NULL or point to `raw.groups_len` valid `ff_str`s,
/// each NULL or pointing to `len` readable bytes, all unchanged during the
/// call.
#[inline]
pub(crate) unsafe fn with_context<R>(
    raw: &ff_context,
    evaluate: impl FnOnce(&Context<'_>) -> R,
) -> Result<R, Failure> {
    if raw.present & !KNOWN_PRESENT_BITS != 0 {
        return Err(Failure::new(
            FF_INVALID_ARGUMENT,
            format!(
                "`ctx.present` is {:#x}; only FF_HAS_USER_ID (1) and FF_HAS_CHAT_ID (2) are defined",
                raw.present
            ),
        ));
    }
    let context = Context {
        user_id: (raw.present & FF_HAS_USER_ID != 0).then_some(raw.user_id),
        chat_id: (raw.present & FF_HAS_CHAT_ID != 0).then_some(raw.chat_id),
        chat_type: chat_type(raw.chat_type)?,
        groups: &[],
    };
    if raw.groups_len == 0 {
        return Ok(evaluate(&context));
    }
    // SAFETY: forwarded from this function's contract.
    let raw_groups = unsafe { args::slice(raw.groups, raw.groups_len, "ctx.groups") }?;
    if raw_groups.len() <= STACK_GROUPS {
        // Left uninitialized: zeroing 16 slices per call is measurable.
        let mut names = [MaybeUninit::<&str>::uninit(); STACK_GROUPS];
        for (index, (slot, group)) in names.iter_mut().zip(raw_groups).enumerate() {
            // SAFETY: forwarded from this function's contract.
            slot.write(unsafe { group_name(group, index) }?);
        }
        // SAFETY: the loop initialized the first `raw_groups.len()` slots
        // (it returns early otherwise), and `MaybeUninit<&str>` has the
        // layout of `&str`.
        let names: &[&str] =
            unsafe { std::slice::from_raw_parts(names.as_ptr().cast::<&str>(), raw_groups.len()) };
        Ok(evaluate(&context.groups(names)))
    } else {
        let names = raw_groups
            .iter()
            .enumerate()
            // SAFETY: forwarded from this function's contract.
            .map(|(index, group)| unsafe { group_name(group, index) })
            .collect::<Result<Vec<&str>, Failure>>()?;
        Ok(evaluate(&context.groups(&names)))
    }
}
