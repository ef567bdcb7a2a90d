//! The CLI's in-place edit (`flags_cli::edits::apply`): any valid file, any
//! edit. The result is a valid file; the edit took effect; every other
//! flag and group is unchanged; bytes outside the edited flag (or, for a
//! created flag, outside the `flags` object) are untouched; an edit never
//! fails as `Internal` ("would not read back as intended").
//!
//! Input: a 16-byte header choosing the edit, then the file's text (so
//! real files seed the corpus: 16 bytes, then the file).
#![no_main]

use flags_cli::edits::targeting::Targeting;
use flags_cli::edits::{EditError, EditRequest, apply};
use flags_cli::jsonedit::span;
use flags_core::{BucketBy, Percentage, check_name, parse_flag_file};

const HEADER: usize = 16;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (h, rest) = data.split_at(HEADER);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(before) = parse_flag_file(text) else {
        let request = EditRequest {
            targeting: targeting_of(h),
            flag: "f".into(),
            enabled: Some(true),
            ..EditRequest::default()
        };
        assert!(matches!(apply(text, &request), Err(EditError::Invalid(_))));
        return;
    };

    let create = h[0] & 1 != 0;
    let name = if h[0] & 2 != 0 && !before.flags.is_empty() {
        before.flags[usize::from(h[1]) % before.flags.len()]
            .0
            .clone()
    } else {
        match h[1] % 4 {
            0 => format!("flag_{}", h[2]),
            1 => "bad name!".to_owned(),
            2 => "x".repeat(usize::from(h[2])),
            _ => String::new(),
        }
    };
    let enabled = match (h[0] >> 2) & 3 {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    };
    let millis = u32::from_le_bytes([h[3], h[4], h[5] & 1, 0]) % 100_001;
    let percentage = (h[0] & 16 != 0).then(|| Percentage::from_millis(millis).unwrap());
    let base = i64::from_le_bytes(h[8..16].try_into().unwrap());
    let existing: Vec<i64> = before
        .flag(&name)
        .map(|d| d.exclude_chats.clone())
        .unwrap_or_default();
    let exclude_chats: Vec<i64> = (0..h[6] % 4)
        .map(|i| base.wrapping_add(i64::from(i % 2)))
        .collect();
    let include_chats: Vec<i64> = (0..h[7] % 4)
        .map(
            |i| match existing.get(usize::from(h[7] >> 2) + usize::from(i)) {
                Some(&id) if h[7] & 0x80 == 0 => id,
                _ => base.wrapping_sub(i64::from(i)),
            },
        )
        .collect();
    let targeting = targeting_of(h);
    let bucket_by = targeting.bucket_by;
    let description = targeting.description.clone();
    let add_group = targeting.add_user_groups.first().cloned();
    let request = EditRequest {
        targeting,
        flag: name.clone(),
        create,
        enabled,
        percentage,
        exclude_chats: exclude_chats.clone(),
        include_chats: include_chats.clone(),
    };

    let edited = match apply(text, &request) {
        Ok(edited) => edited,
        Err(EditError::UnknownFlag { .. }) => {
            assert!(!create && before.flag(&name).is_none());
            return;
        }
        Err(EditError::AlreadyExists(_)) => {
            assert!(create && before.flag(&name).is_some());
            return;
        }
        Err(EditError::BadName(_)) => {
            assert!(create && check_name(&name).is_err());
            return;
        }
        Err(e) => panic!("{e}\nrequest {request:?}"),
    };
    if edited.changes.is_empty() {
        assert_eq!(edited.text, text, "no change, yet the text changed");
        return;
    }
    let after = parse_flag_file(&edited.text).expect("the edited file is valid");

    // The edit took effect.
    let def = after.flag(&name).expect("the flag is there");
    if let Some(on) = enabled {
        assert_eq!(def.enabled, on);
    } else if create {
        assert!(def.enabled);
    }
    if let Some(p) = percentage {
        assert_eq!(def.rollout_percentage, p);
    } else if create {
        assert_eq!(def.rollout_percentage, Percentage::ZERO);
    }
    if let Some(b) = bucket_by {
        assert_eq!(def.bucket_by, b);
    }
    if let Some(d) = &description {
        assert_eq!(def.description.as_ref(), Some(d));
    }
    if let Some(g) = &add_group {
        assert!(def.user_groups.contains(g));
    }
    for chat in &exclude_chats {
        if !include_chats.contains(chat) {
            assert!(def.exclude_chats.contains(chat), "{chat} not excluded");
        }
    }
    for chat in &include_chats {
        if !exclude_chats.contains(chat) {
            assert!(!def.exclude_chats.contains(chat), "{chat} still excluded");
        }
    }
    let mut sorted = def.exclude_chats.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let had_duplicates = before.flag(&name).is_some_and(|d| {
        let mut s = d.exclude_chats.clone();
        s.sort_unstable();
        s.dedup();
        s.len() != d.exclude_chats.len()
    });
    assert!(
        had_duplicates || sorted.len() == def.exclude_chats.len(),
        "a chat excluded twice"
    );

    // Everything else unchanged, in order.
    assert_eq!(after.groups, before.groups);
    let others = |file: &flags_core::FlagFile| -> Vec<_> {
        file.flags
            .iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect()
    };
    assert_eq!(others(&after), others(&before));
    assert_eq!(after.flags.len(), before.flags.len() + usize::from(create));

    // Untouched bytes stay: the edit is confined to the flag's value (or,
    // for a new flag, to the `flags` object).
    let root = span::locate(text).expect("a valid file is located");
    let flags = &root.get("flags").expect("flags").value;
    let (start, end) = if create {
        (flags.start, flags.end)
    } else {
        let member = flags.get(&name).expect("the flag's span");
        (member.value.start, member.value.end)
    };
    let new = edited.text.as_bytes();
    let old = text.as_bytes();
    assert!(new.len() >= start + (old.len() - end));
    assert_eq!(
        &new[..start],
        &old[..start],
        "bytes before the edit changed"
    );
    assert_eq!(
        &new[new.len() - (old.len() - end)..],
        &old[end..],
        "bytes after the edit changed"
    );
});

/// Targeting from the bits of `h[5]` beyond its lowest: bucket_by, a
/// description, a user group added.
fn targeting_of(h: &[u8]) -> Targeting {
    let bucket_by = match (h[5] >> 1) & 3 {
        1 => Some(BucketBy::User),
        2 => Some(BucketBy::Chat),
        _ => None,
    };
    Targeting {
        bucket_by,
        description: (h[5] & 8 != 0).then(|| format!("d{}", h[2])),
        add_user_groups: (h[5] & 16 != 0)
            .then(|| "beta_testers".to_owned())
            .into_iter()
            .collect(),
        ..Targeting::default()
    }
}
