//! The flag file as data: what a valid file says, with the spec's defaults
//! filled in. Produced by [`crate::parse_flag_file`]; compiled into a
//! [`crate::Snapshot`] for evaluation.

use std::fmt;
use std::str::FromStr;

/// The only file format version this library reads.
pub const FORMAT_VERSION: u64 = 1;

/// A validated flag file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagFile {
    /// Group name → user ids, as listed under `groups`.
    pub groups: Vec<(String, Vec<i64>)>,
    /// Flag name → definition, as listed under `flags`.
    pub flags: Vec<(String, FlagDef)>,
}

impl FlagFile {
    /// The definition of the flag `name`, if the file has one.
    pub fn flag(&self, name: &str) -> Option<&FlagDef> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    /// The file as JSON text that loads back to the same flags, every field
    /// written out explicitly.
    pub fn to_json_string(&self) -> String {
        use serde_json::{Map, Value, json};
        let groups: Map<String, Value> = self
            .groups
            .iter()
            .map(|(name, ids)| (name.clone(), json!(ids)))
            .collect();
        let flags: Map<String, Value> = self
            .flags
            .iter()
            .map(|(name, d)| {
                let mut f = Map::new();
                if let Some(desc) = &d.description {
                    f.insert("description".into(), json!(desc));
                }
                f.insert("enabled".into(), json!(d.enabled));
                f.insert("rollout_percentage".into(), d.rollout_percentage.to_json());
                f.insert("user_groups".into(), json!(d.user_groups));
                let types: Vec<&str> = d.chat_types.iter().map(|t| t.as_str()).collect();
                f.insert("chat_types".into(), json!(types));
                f.insert("exclude_chats".into(), json!(d.exclude_chats));
                f.insert("bucket_by".into(), json!(d.bucket_by.as_str()));
                if let Some(salt) = &d.salt {
                    f.insert("salt".into(), json!(salt));
                }
                (name.clone(), Value::Object(f))
            })
            .collect();
        let file = json!({ "version": FORMAT_VERSION, "groups": groups, "flags": flags });
        serde_json::to_string_pretty(&file).expect("a JSON value always serializes")
    }
}

/// One flag as the file defines it, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagDef {
    pub enabled: bool,
    pub rollout_percentage: Percentage,
    pub user_groups: Vec<String>,
    /// Empty means every chat type.
    pub chat_types: Vec<ChatType>,
    pub exclude_chats: Vec<i64>,
    pub bucket_by: BucketBy,
    /// `None` means the flag's own name is the salt.
    pub salt: Option<String>,
    pub description: Option<String>,
}

impl Default for FlagDef {
    fn default() -> Self {
        FlagDef {
            enabled: false,
            rollout_percentage: Percentage::FULL,
            user_groups: Vec::new(),
            chat_types: Vec::new(),
            exclude_chats: Vec::new(),
            bucket_by: BucketBy::User,
            salt: None,
            description: None,
        }
    }
}

/// A rollout percentage, kept exactly as thousandths of a percent
/// (`12.5` is `12_500`), which is also its bucket threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percentage(u32);

impl Percentage {
    pub const ZERO: Percentage = Percentage(0);
    pub const FULL: Percentage = Percentage(100_000);

    /// `millis` thousandths of a percent; `None` above 100 %.
    pub const fn from_millis(millis: u32) -> Option<Percentage> {
        if millis <= 100_000 {
            Some(Percentage(millis))
        } else {
            None
        }
    }

    /// Thousandths of a percent: the bucket threshold (0 ..= 100 000).
    pub const fn millis(self) -> u32 {
        self.0
    }

    /// The value a person or a JSON file would write: an integer when whole.
    pub fn to_json(self) -> serde_json::Value {
        if self.0.is_multiple_of(1000) {
            serde_json::Value::from(self.0 / 1000)
        } else {
            serde_json::Value::from(f64::from(self.0) / 1000.0)
        }
    }

    /// Checks a parsed number: 0–100, at most three decimals.
    pub fn from_f64(value: f64) -> Result<Percentage, PercentageError> {
        if !value.is_finite() {
            return Err(PercentageError::NotANumber);
        }
        if !(0.0..=100.0).contains(&value) {
            return Err(PercentageError::OutOfRange);
        }
        // Exact: the decimal k/1000 (at most 3 decimals) parses to the f64
        // nearest k/1000, which is what dividing k by 1000 gives (both
        // correctly rounded). Anything else is finer than 0.001, however
        // close (12.3450000000001, 1e-13).
        let millis = (value * 1000.0).round();
        if millis / 1000.0 != value {
            return Err(PercentageError::TooPrecise);
        }
        Ok(Percentage(millis as u32))
    }
}

impl fmt::Display for Percentage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Why a number is not a valid percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PercentageError {
    #[error("is not a number")]
    NotANumber,
    #[error("is not in 0..=100")]
    OutOfRange,
    #[error("has more than 3 decimals (the finest step is 0.001)")]
    TooPrecise,
}

impl FromStr for Percentage {
    type Err = PercentageError;

    /// Parses what an operator types: `50`, `12.5`, `0.125`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let plain = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && s.bytes().any(|b| b.is_ascii_digit());
        if !plain {
            return Err(PercentageError::NotANumber);
        }
        let value: f64 = s.parse().map_err(|_| PercentageError::NotANumber)?;
        Percentage::from_f64(value)
    }
}

/// A Telegram chat type (python-telegram-bot's `Chat.type` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChatType {
    Private = 0,
    Group = 1,
    Supergroup = 2,
    Channel = 3,
}

impl ChatType {
    pub const ALL: [ChatType; 4] = [
        ChatType::Private,
        ChatType::Group,
        ChatType::Supergroup,
        ChatType::Channel,
    ];

    /// The name used in the file and by Telegram.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChatType::Private => "private",
            ChatType::Group => "group",
            ChatType::Supergroup => "supergroup",
            ChatType::Channel => "channel",
        }
    }

    /// This type's bit in a chat-type mask.
    pub(crate) const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for ChatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the four chat types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chat type {0:?}: expected one of private, group, supergroup, channel")]
pub struct UnknownChatType(pub String);

impl FromStr for ChatType {
    type Err = UnknownChatType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChatType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownChatType(s.to_owned()))
    }
}

/// Which id of the message is hashed for the percentage rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BucketBy {
    #[default]
    User,
    Chat,
}

impl BucketBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            BucketBy::User => "user",
            BucketBy::Chat => "chat",
        }
    }
}

impl fmt::Display for BucketBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a chat or user id the way the file accepts it as a string:
/// a plain decimal integer that fits in i64 (`-1001234567890`).
pub fn parse_id(s: &str) -> Result<i64, IdError> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotAnInteger);
    }
    // The JSON integer `-0` is read as the float -0.0 and rejected, so the
    // string is too: one rule for both ways of writing an id.
    if negative && digits.bytes().all(|b| b == b'0') {
        return Err(IdError::NegativeZero);
    }
    s.parse().map_err(|_| IdError::OutOfRange)
}

/// Why a value is not a valid id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("is not a decimal integer")]
    NotAnInteger,
    #[error("does not fit in a signed 64-bit integer")]
    OutOfRange,
    #[error("is negative zero; write 0")]
    NegativeZero,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_accepts_three_decimals_and_rejects_more() {
        assert_eq!(Percentage::from_f64(33.333).unwrap().millis(), 33_333);
        assert_eq!(Percentage::from_f64(0.125).unwrap().millis(), 125);
        assert_eq!(Percentage::from_f64(100.0).unwrap(), Percentage::FULL);
        assert_eq!(
            Percentage::from_f64(12.3456),
            Err(PercentageError::TooPrecise)
        );
        assert_eq!(
            Percentage::from_f64(12.000_000_000_1),
            Err(PercentageError::TooPrecise)
        );
        // Within 1e-12 of a multiple of 0.001 is still finer than 0.001.
        for close in [12.345_000_000_000_1, 99.999_999_999_999_5, 1e-13, 5e-324] {
            assert_eq!(
                Percentage::from_f64(close),
                Err(PercentageError::TooPrecise),
                "{close:?}"
            );
        }
        assert_eq!(Percentage::from_f64(-0.0), Ok(Percentage::ZERO));
        assert_eq!(Percentage::from_f64(-1.0), Err(PercentageError::OutOfRange));
        assert_eq!(
            Percentage::from_f64(100.001),
            Err(PercentageError::OutOfRange)
        );
        assert_eq!(
            Percentage::from_f64(f64::NAN),
            Err(PercentageError::NotANumber)
        );
    }

    #[test]
    fn every_three_decimal_percentage_written_in_decimal_is_exact() {
        for k in 0..=100_000u32 {
            let written = format!("{}.{:03}", k / 1000, k % 1000);
            let value: f64 = written.parse().unwrap();
            assert_eq!(value, f64::from(k) / 1000.0, "{written}");
            assert_eq!(
                Percentage::from_f64(value).unwrap().millis(),
                k,
                "{written}"
            );
            // The same number with a trailing zero, or in exponent form.
            let exp: f64 = format!("{k}e-3").parse().unwrap();
            assert_eq!(Percentage::from_f64(exp).unwrap().millis(), k, "{k}e-3");
            // One step of f64 away is finer than 0.001.
            if k > 0 {
                let next = f64::from_bits(value.to_bits() + 1);
                if next <= 100.0 {
                    assert_eq!(
                        Percentage::from_f64(next),
                        Err(PercentageError::TooPrecise),
                        "{next:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn percentage_parses_operator_input() {
        assert_eq!("50".parse::<Percentage>().unwrap().millis(), 50_000);
        assert_eq!("12.5".parse::<Percentage>().unwrap().to_string(), "12.5");
        for bad in ["abc", "nan", "inf", "", "50%", "1e2"] {
            assert_eq!(
                bad.parse::<Percentage>(),
                Err(PercentageError::NotANumber),
                "{bad}"
            );
        }
        assert_eq!(
            "150".parse::<Percentage>(),
            Err(PercentageError::OutOfRange)
        );
        assert_eq!("-1".parse::<Percentage>(), Err(PercentageError::OutOfRange));
    }

    #[test]
    fn ids_parse_as_plain_decimals() {
        assert_eq!(parse_id("-1001234567890"), Ok(-1_001_234_567_890));
        assert_eq!(parse_id("12ab"), Err(IdError::NotAnInteger));
        assert_eq!(parse_id("+5"), Err(IdError::NotAnInteger));
        assert_eq!(parse_id("-"), Err(IdError::NotAnInteger));
        assert_eq!(parse_id("9223372036854775808"), Err(IdError::OutOfRange));
        assert_eq!(parse_id("-0"), Err(IdError::NegativeZero));
        assert_eq!(parse_id("-000"), Err(IdError::NegativeZero));
        assert_eq!(parse_id("0"), Ok(0));
        assert_eq!(parse_id("-007"), Ok(-7));
    }

    #[test]
    fn percentage_display_and_json_agree() {
        let p = Percentage::from_millis(12_500).unwrap();
        assert_eq!(p.to_string(), "12.5");
        assert_eq!(p.to_json(), serde_json::json!(12.5));
        assert_eq!(Percentage::FULL.to_json(), serde_json::json!(100));
    }
}
