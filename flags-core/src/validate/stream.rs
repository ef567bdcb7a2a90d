//! The walk of a flag file as serde reads it: objects of flags and groups
//! and arrays of ids go straight into the model; values of other shapes
//! become [`Json`] trees for [`Validator`]'s checks.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Path, TOP_FIELDS, Validator};
use crate::json::{ID_ARRAY, Json, JsonVisitor};
use crate::model::{BucketBy, ChatType, FORMAT_VERSION, FlagDef, FlagFile, parse_id};

/// What a streamed value turned out to be: the expected shape, read
/// straight into the model, or any other, collected as a tree to report on.
enum Shape<T> {
    Expected(T),
    Other(Json),
}

/// Reads an object member by member.
trait StreamMap<'de> {
    type Out;
    fn map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error>;
}

/// Reads an array item by item.
trait StreamSeq<'de> {
    type Out;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Out, A::Error>;
}

/// Streams an object through `H`; collects any other value as a tree.
struct MapOr<H>(H);

/// Streams an array through `H`; collects any other value as a tree.
struct SeqOr<H>(H);

/// The scalar visits of a `Shape` visitor: each collected as a tree.
macro_rules! scalars_are_other {
    () => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            JsonVisitor.visit_unit().map(Shape::Other)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            JsonVisitor.visit_bool(v).map(Shape::Other)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            JsonVisitor.visit_i64(v).map(Shape::Other)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            JsonVisitor.visit_u64(v).map(Shape::Other)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            JsonVisitor.visit_f64(v).map(Shape::Other)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            JsonVisitor.visit_str(v).map(Shape::Other)
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            JsonVisitor.visit_string(v).map(Shape::Other)
        }
    };
}

impl<'de, H: StreamMap<'de>> Visitor<'de> for MapOr<H> {
    type Value = Shape<H::Out>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_are_other!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        JsonVisitor.visit_seq(seq).map(Shape::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.map(map).map(Shape::Expected)
    }
}

impl<'de, H: StreamMap<'de>> DeserializeSeed<'de> for MapOr<H> {
    type Value = Shape<H::Out>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, H: StreamSeq<'de>> Visitor<'de> for SeqOr<H> {
    type Value = Shape<H::Out>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_are_other!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.seq(seq).map(Shape::Expected)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        JsonVisitor.visit_map(map).map(Shape::Other)
    }
}

impl<'de, H: StreamSeq<'de>> DeserializeSeed<'de> for SeqOr<H> {
    type Value = Shape<H::Out>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// An object key, borrowed from the text unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The whole file.
pub(super) struct FileSeed<'v>(pub(super) &'v mut Validator);

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = FlagFile;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FlagFile, D::Error> {
        let v = self.0;
        match MapOr(TopObject(&mut *v)).deserialize(deserializer)? {
            Shape::Expected(file) => Ok(file),
            Shape::Other(tree) => {
                v.tree(&tree, &Path::Root);
                v.report(
                    &Path::Root,
                    format!("the file must be a JSON object, not {}", tree.kind()),
                );
                Ok(FlagFile {
                    groups: Vec::new(),
                    flags: Vec::new(),
                })
            }
        }
    }
}

struct TopObject<'v>(&'v mut Validator);

impl<'de> StreamMap<'de> for TopObject<'_> {
    type Out = FlagFile;

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<FlagFile, A::Error> {
        let v = self.0;
        let number = v.next_number();
        let root = Path::Root;
        let mut file = FlagFile {
            groups: Vec::new(),
            flags: Vec::new(),
        };
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        let mut version_seen = false;
        let mut flags_seen = false;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let path = root.key(&key);
            match &*key {
                "version" => {
                    version_seen = true;
                    let value: Json = map.next_value()?;
                    v.tree(&value, &path);
                    v.version(&value, &path);
                }
                "groups" => {
                    let what = "an object of group name → array of user ids";
                    let groups = Groups { v, path: &path };
                    file.groups = match map.next_value_seed(MapOr(groups))? {
                        Shape::Expected(groups) => groups,
                        Shape::Other(tree) => {
                            v.not_an_object(&tree, &path, what);
                            Vec::new()
                        }
                    };
                }
                "flags" => {
                    flags_seen = true;
                    let what = "an object of flag name → flag";
                    let flags = Flags { v, path: &path };
                    file.flags = match map.next_value_seed(MapOr(flags))? {
                        Shape::Expected(flags) => flags,
                        Shape::Other(tree) => {
                            v.not_an_object(&tree, &path, what);
                            Vec::new()
                        }
                    };
                }
                _ => {
                    let value: Json = map.next_value()?;
                    v.tree(&value, &path);
                    v.unknown_field(&path, &key, &TOP_FIELDS);
                }
            }
            keys.push(key);
        }
        v.key_duplicates(number, &root, &keys, |key| key);
        if !version_seen {
            v.report(
                &root.key("version"),
                format!("missing; add \"version\": {FORMAT_VERSION}"),
            );
        }
        if !flags_seen {
            v.report(
                &root.key("flags"),
                "missing; add \"flags\": {} (it may be empty)",
            );
        }
        Ok(file)
    }
}

/// `groups`: group name → user ids.
struct Groups<'v, 'p> {
    v: &'v mut Validator,
    path: &'p Path<'p>,
}

impl<'de> StreamMap<'de> for Groups<'_, '_> {
    type Out = Vec<(String, Vec<i64>)>;

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let v = self.v;
        let number = v.next_number();
        let mut groups = Vec::new();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let path = self.path.key(&name);
            v.name(&path, &name);
            let ids = read_ids(&mut map, v, &path, "user ids")?;
            groups.push((name.into_owned(), ids));
        }
        v.key_duplicates(number, self.path, &groups, |(name, _)| name);
        Ok(groups)
    }
}

/// `flags`: flag name → flag.
struct Flags<'v, 'p> {
    v: &'v mut Validator,
    path: &'p Path<'p>,
}

impl<'de> StreamMap<'de> for Flags<'_, '_> {
    type Out = Vec<(String, FlagDef)>;

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let v = self.v;
        let number = v.next_number();
        let mut flags = Vec::new();
        let mut keys = Vec::new();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let path = self.path.key(&name);
            v.name(&path, &name);
            let flag = OneFlag {
                v: &mut *v,
                path: &path,
                keys: &mut keys,
            };
            let def = match map.next_value_seed(MapOr(flag))? {
                Shape::Expected(def) => def,
                Shape::Other(tree) => {
                    v.not_an_object(&tree, &path, "an object");
                    FlagDef::default()
                }
            };
            flags.push((name.into_owned(), def));
        }
        v.key_duplicates(number, self.path, &flags, |(name, _)| name);
        Ok(flags)
    }
}

/// One flag's fields.
struct OneFlag<'v, 'p, 'k, 'de> {
    v: &'v mut Validator,
    path: &'p Path<'p>,
    /// The flag's keys, for the duplicate check; one buffer for all flags.
    keys: &'k mut Vec<Cow<'de, str>>,
}

impl<'de> StreamMap<'de> for OneFlag<'_, '_, '_, 'de> {
    type Out = FlagDef;

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<FlagDef, A::Error> {
        let v = self.v;
        let keys = self.keys;
        keys.clear();
        let number = v.next_number();
        let mut def = FlagDef::default();
        let mut enabled_seen = false;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let path = self.path.key(&key);
            match &*key {
                "exclude_chats" => def.exclude_chats = read_ids(&mut map, v, &path, "chat ids")?,
                "chat_types" => {
                    let chat_types = ChatTypes {
                        v: &mut *v,
                        path: &path,
                        chat_types: &mut def.chat_types,
                    };
                    if let Shape::Other(tree) = map.next_value_seed(SeqOr(chat_types))? {
                        v.tree(&tree, &path);
                        v.report(
                            &path,
                            format!("must be an array of chat types, not {}", tree.kind()),
                        );
                    }
                }
                _ => {
                    enabled_seen |= key == "enabled";
                    // The usual strings are taken without a tree or a copy.
                    match (&*key, map.next_value_seed(FieldSeed)?) {
                        ("bucket_by", Field::Str(s)) if s == "user" => {
                            def.bucket_by = BucketBy::User
                        }
                        ("bucket_by", Field::Str(s)) if s == "chat" => {
                            def.bucket_by = BucketBy::Chat
                        }
                        ("description", Field::Str(s)) => def.description = Some(s.into_owned()),
                        ("salt", Field::Str(s)) if !s.is_empty() => def.salt = Some(s.into_owned()),
                        (_, value) => {
                            let value = value.into_tree();
                            v.tree(&value, &path);
                            v.field(&mut def, &key, value, &path);
                        }
                    }
                }
            }
            keys.push(key);
        }
        v.key_duplicates(number, self.path, keys, |key| key);
        if !enabled_seen {
            v.report(
                &self.path.key("enabled"),
                "missing; every flag needs \"enabled\": true or false",
            );
        }
        Ok(def)
    }
}

/// A flag's `chat_types`.
struct ChatTypes<'v, 'p, 'o> {
    v: &'v mut Validator,
    path: &'p Path<'p>,
    chat_types: &'o mut Vec<ChatType>,
}

impl<'de> StreamSeq<'de> for ChatTypes<'_, '_, '_> {
    type Out = ();

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(item) = seq.next_element_seed(FieldSeed)? {
            let path = self.path.at(i);
            match item {
                Field::Str(name) => self.v.chat_type_name(&name, &path, self.chat_types),
                Field::Tree(tree) => {
                    self.v.tree(&tree, &path);
                    self.v.chat_type(&tree, &path, self.chat_types);
                }
            }
            i += 1;
        }
        Ok(())
    }
}

/// A small value: a string, borrowed from the text unless it had escapes,
/// or any other value as a tree.
enum Field<'de> {
    Str(Cow<'de, str>),
    Tree(Json),
}

impl Field<'_> {
    fn into_tree(self) -> Json {
        match self {
            Field::Str(s) => Json::Str(s.into_owned()),
            Field::Tree(tree) => tree,
        }
    }
}

/// Reads a [`Field`].
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        JsonVisitor.visit_unit().map(Field::Tree)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        JsonVisitor.visit_bool(v).map(Field::Tree)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        JsonVisitor.visit_i64(v).map(Field::Tree)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        JsonVisitor.visit_u64(v).map(Field::Tree)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        JsonVisitor.visit_f64(v).map(Field::Tree)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        JsonVisitor.visit_seq(seq).map(Field::Tree)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        JsonVisitor.visit_map(map).map(Field::Tree)
    }
}

/// The next map value as an array of ids (`what`, for the message when it
/// is not an array).
fn read_ids<'de, A: MapAccess<'de>>(
    map: &mut A,
    v: &mut Validator,
    path: &Path,
    what: &str,
) -> Result<Vec<i64>, A::Error> {
    Ok(
        match map.next_value_seed(IdArray(SeqOr(Ids { v: &mut *v, path })))? {
            Shape::Expected(ids) => ids,
            Shape::Other(tree) => {
                v.not_an_id_array(&tree, path, what);
                Vec::new()
            }
        },
    )
}

/// A value where an array of ids belongs, asked for as the newtype
/// [`ID_ARRAY`]: the fast reader then reads an array of plain integers in
/// its own loop (serde_json, and the fast reader for any other value, give
/// the value itself to `S`, as they would without the newtype).
struct IdArray<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for IdArray<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        deserializer.deserialize_newtype_struct(ID_ARRAY, self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for IdArray<S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<S::Value, D::Error> {
        self.0.deserialize(deserializer)
    }
}

/// An array of ids.
struct Ids<'v, 'p> {
    v: &'v mut Validator,
    path: &'p Path<'p>,
}

impl<'de> StreamSeq<'de> for Ids<'_, '_> {
    type Out = Vec<i64>;

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
        // An array the fast reader read whole tells its length: its ids go
        // straight into a vector of that size.
        if let Some(len) = seq.size_hint() {
            let mut ids = Vec::with_capacity(len);
            self.read_into(&mut seq, &mut ids)?;
            return Ok(ids);
        }
        let mut ids = std::mem::take(&mut self.v.id_buffer);
        ids.clear();
        let v = self.read_into(&mut seq, &mut ids)?;
        let exact = ids.to_vec();
        v.id_buffer = ids;
        Ok(exact)
    }
}

impl<'v> Ids<'v, '_> {
    /// Appends the array's ids to `ids`, reporting every item that is not
    /// one; gives the validator back.
    #[inline]
    fn read_into<'de, A: SeqAccess<'de>>(
        self,
        seq: &mut A,
        ids: &mut Vec<i64>,
    ) -> Result<&'v mut Validator, A::Error> {
        let v = self.v;
        let mut i = 0;
        while let Some(item) = seq.next_element_seed(IdSeed)? {
            match item {
                IdItem::Id(id) => ids.push(id),
                IdItem::Other(tree) => {
                    v.tree(&tree, &self.path.at(i));
                    if let Some(id) = v.id(&tree, self.path, i) {
                        ids.push(id);
                    }
                }
            }
            i += 1;
        }
        Ok(v)
    }
}

/// One item of an id array.
enum IdItem {
    /// An integer in range, or a decimal string that parses as one.
    Id(i64),
    /// Anything else, for [`Validator::id`] to explain. Boxed so an item is
    /// two words, returned in registers: a million of them pass through
    /// the hot loop.
    Other(Box<Json>),
}

/// Reads an [`IdItem`].
struct IdSeed;

impl IdSeed {
    fn other<E>(value: Result<Json, E>) -> Result<IdItem, E> {
        value.map(|tree| IdItem::Other(Box::new(tree)))
    }
}

impl<'de> DeserializeSeed<'de> for IdSeed {
    type Value = IdItem;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<IdItem, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IdSeed {
    type Value = IdItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdItem, E> {
        Ok(IdItem::Id(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdItem, E> {
        match i64::try_from(v) {
            Ok(id) => Ok(IdItem::Id(id)),
            Err(_) => Self::other(JsonVisitor.visit_u64(v)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IdItem, E> {
        match parse_id(v) {
            Ok(id) => Ok(IdItem::Id(id)),
            Err(_) => Self::other(JsonVisitor.visit_str(v)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<IdItem, E> {
        Self::other(JsonVisitor.visit_unit())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<IdItem, E> {
        Self::other(JsonVisitor.visit_bool(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<IdItem, E> {
        Self::other(JsonVisitor.visit_f64(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IdItem, A::Error> {
        Self::other(JsonVisitor.visit_seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IdItem, A::Error> {
        Self::other(JsonVisitor.visit_map(map))
    }
}
