//! The question (`Context`) and the answer (`Decision`).

use std::fmt;

use crate::model::ChatType;

/// What the bot knows about one incoming message. Cheap to build: it only
/// borrows, so building one per message allocates nothing.
///
/// ```
/// use flags_core::{ChatType, Context};
/// let ctx = Context::new()
///     .user(123)
///     .chat(-1001234567890, ChatType::Supergroup)
///     .groups(&["beta_testers"]);
/// assert_eq!(ctx.user_id, Some(123));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context<'a> {
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub chat_type: Option<ChatType>,
    /// Groups the bot knows the user to be in, besides the file's `groups`.
    pub groups: &'a [&'a str],
}

impl<'a> Context<'a> {
    /// A context that knows nothing: no user, no chat, no groups.
    pub const fn new() -> Context<'static> {
        Context {
            user_id: None,
            chat_id: None,
            chat_type: None,
            groups: &[],
        }
    }

    pub const fn user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub const fn chat(mut self, chat_id: i64, chat_type: ChatType) -> Self {
        self.chat_id = Some(chat_id);
        self.chat_type = Some(chat_type);
        self
    }

    pub const fn chat_id(mut self, chat_id: i64) -> Self {
        self.chat_id = Some(chat_id);
        self
    }

    pub const fn chat_type(mut self, chat_type: ChatType) -> Self {
        self.chat_type = Some(chat_type);
        self
    }

    pub const fn groups<'b>(self, groups: &'b [&'b str]) -> Context<'b>
    where
        'a: 'b,
    {
        Context {
            user_id: self.user_id,
            chat_id: self.chat_id,
            chat_type: self.chat_type,
            groups,
        }
    }
}

/// Which evaluation step decided (docs/spec.md "Evaluation"), in step order.
/// The numbers are stable: the C ABI and the Python package use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// No flag of that name: the caller's default applies.
    UnknownFlag = 0,
    /// The flag's kill switch (`enabled: false`).
    Disabled = 1,
    /// The chat is in `exclude_chats`.
    ChatExcluded = 2,
    /// `chat_types` does not include the message's chat type (or it is unknown).
    ChatType = 3,
    /// The user is in one of `user_groups`.
    Group = 4,
    /// The percentage rollout decided (always on at 100 %).
    Rollout = 5,
    /// The rollout needed a user or chat id the context did not have.
    MissingKey = 6,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::UnknownFlag,
        Reason::Disabled,
        Reason::ChatExcluded,
        Reason::ChatType,
        Reason::Group,
        Reason::Rollout,
        Reason::MissingKey,
    ];

    /// The spec's name for this reason (`"chat_excluded"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownFlag => "unknown_flag",
            Reason::Disabled => "disabled",
            Reason::ChatExcluded => "chat_excluded",
            Reason::ChatType => "chat_type",
            Reason::Group => "group",
            Reason::Rollout => "rollout",
            Reason::MissingKey => "missing_key",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer for one flag and one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    pub enabled: bool,
    pub reason: Reason,
    /// The bucket key's bucket (0 ..= 99 999), when the rollout step hashed
    /// it; `None` when an earlier step decided or the percentage is 100.
    pub bucket: Option<u32>,
}

impl Decision {
    pub(crate) const fn fixed(enabled: bool, reason: Reason) -> Decision {
        Decision {
            enabled,
            reason,
            bucket: None,
        }
    }

    /// The decision for a flag the file does not define.
    pub const UNKNOWN: Decision = Decision::fixed(false, Reason::UnknownFlag);
}
