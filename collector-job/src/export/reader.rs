//! Reads a Telegram Desktop export as a stream: one chat (`result.json` of "Export chat
//! history") or a full account export whose chats sit in `chats.list` and
//! `left_chats.list`. Messages are handed to a sink one by one as the parser reaches them
//! (serde visitors over `serde_json`'s reader), so memory stays bounded by one message and
//! whatever the sink keeps, whatever the size of the file.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::export::mapping::{self, ChatContext, ChatHeader, LocalDates};
use crate::export::message_json::MessageJson;
use crate::store::model::MessageRow;

/// Receives an export's chats and messages in file order.
pub trait ExportSink {
    /// A chat begins; `Ok(false)` skips its messages unread (chats that are not channels).
    fn chat_start(&mut self, chat: &ChatHeader) -> Result<bool, Halted>;
    fn message(&mut self, message: MessageRow) -> Result<(), Halted>;
    /// Every message read and found valid, delivered or not (a file whose keys were
    /// reordered has its messages checked before their chat's header is known). An error
    /// is a problem of the message: reading stops there, as for one that does not map.
    fn checked(&mut self, _message: &MessageRow) -> Result<(), String> {
        Ok(())
    }
    /// The chat whose start returned `Ok(true)` has no more messages.
    fn chat_end(&mut self) -> Result<(), Halted>;
}

/// The sink asked to stop reading (its consumer is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Halted;

/// An export that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("cannot read it: {detail}")]
    Read { detail: String },
    #[error("not a Telegram Desktop JSON export ({detail})")]
    Json { detail: String },
    #[error("not a Telegram Desktop JSON export (neither a chat with messages nor chats.list)")]
    Shape,
    #[error("chat \"{chat}\": {problem}")]
    Chat { chat: String, problem: String },
    #[error("chat \"{chat}\", {place}: {problem} (line {line}, column {column})")]
    Message {
        chat: String,
        /// `message 41`, `the message after message 41`, `the first message`.
        place: String,
        problem: String,
        line: usize,
        column: usize,
    },
    #[error("the export holds no channel or supergroup to import")]
    NoChannels,
}

/// Why reading stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadStopped {
    Export(ExportError),
    Halted,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Opens an export for reading, past a UTF-8 byte order mark if it has one.
pub fn open(path: &Path) -> Result<BufReader<File>, ExportError> {
    let read_error = |e: std::io::Error| ExportError::Read {
        detail: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        },
    };
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).map_err(read_error)?);
    if reader.fill_buf().map_err(read_error)?.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    Ok(reader)
}

/// Streams the export in `reader` into `sink`; local dates are read per `dates`. Fails with
/// [`ExportError::NoChannels`] when no chat is a channel or supergroup.
///
/// Telegram Desktop writes a chat's `name`, `type` and `id` before its `messages`. A file
/// whose keys were reordered (e.g. by `jq -S`) still reads: its messages are then checked
/// without being delivered, and the chat starts at its end. Give the headers such a first
/// reading saw, in chat order, as `known`, and a second reading delivers everything.
pub fn read<R: Read>(
    reader: R,
    dates: &mut LocalDates,
    known: &[ChatHeader],
    sink: &mut impl ExportSink,
) -> Result<(), ReadStopped> {
    let mut state = State {
        sink,
        dates,
        known,
        next_chat: 0,
        chat: None,
        place: None,
        problem: None,
        halted: false,
        channels: 0,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Root(&mut state)
        .deserialize(&mut de)
        .and_then(|shape| de.end().map(|()| shape));
    match result {
        Ok(Shape::Neither) => Err(ReadStopped::Export(ExportError::Shape)),
        Ok(_) if state.channels == 0 => Err(ReadStopped::Export(ExportError::NoChannels)),
        Ok(_) => Ok(()),
        Err(_) if state.halted => Err(ReadStopped::Halted),
        Err(e) => Err(ReadStopped::Export(state.explain(&e))),
    }
}

/// Where the reader is, so a problem names it.
struct State<'a, S> {
    sink: &'a mut S,
    dates: &'a mut LocalDates,
    /// Headers of an earlier reading, by chat index.
    known: &'a [ChatHeader],
    /// Index of the next chat met.
    next_chat: usize,
    /// The chat whose messages are being read.
    chat: Option<String>,
    place: Option<Place>,
    /// A problem the visitors found themselves (serde's error only unwinds).
    problem: Option<ExportError>,
    halted: bool,
    /// Channel chats seen.
    channels: usize,
}

#[derive(Clone, Copy)]
struct Place {
    /// The message that failed, when it was read far enough to know its id.
    message: Option<i64>,
    previous: Option<i64>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message, self.previous) {
            (Some(id), _) => write!(f, "message {id}"),
            (None, Some(previous)) => write!(f, "the message after message {previous}"),
            (None, None) => write!(f, "the first message"),
        }
    }
}

impl<S: ExportSink> State<'_, S> {
    fn explain(&mut self, error: &serde_json::Error) -> ExportError {
        use serde_json::error::Category;
        if let Some(problem) = self.problem.take() {
            return problem;
        }
        match error.classify() {
            Category::Io => ExportError::Read {
                detail: error.to_string(),
            },
            Category::Syntax | Category::Eof => ExportError::Json {
                detail: crate::app::config::json_detail(error),
            },
            Category::Data => match (self.chat.take(), self.place) {
                (Some(chat), Some(place)) => ExportError::Message {
                    chat,
                    place: place.to_string(),
                    problem: without_position(error),
                    line: error.line(),
                    column: error.column(),
                },
                _ => ExportError::Json {
                    detail: error.to_string(),
                },
            },
        }
    }

    fn halt<E: de::Error>(&mut self) -> E {
        self.halted = true;
        E::custom("the import stopped reading")
    }

    fn fail<E: de::Error>(&mut self, problem: ExportError) -> E {
        let text = problem.to_string();
        self.problem = Some(problem);
        E::custom(text)
    }
}

/// serde_json's message without its ` at line L column C` suffix (said separately).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// What the top-level object turned out to be.
enum Shape {
    SingleChat,
    Full,
    Neither,
}

struct Root<'s, 'a, S>(&'s mut State<'a, S>);

impl<'de, S: ExportSink> DeserializeSeed<'de> for Root<'_, '_, S> {
    type Value = Shape;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: ExportSink> Visitor<'de> for Root<'_, '_, S> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Telegram Desktop export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut chat = ChatFields::default();
        let mut full = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "chats" | "left_chats" => {
                    map.next_value_seed(ChatList(&mut *self.0))?;
                    full = true;
                }
                _ => chat.field(&key, &mut map, self.0)?,
            }
        }
        if chat.messages_read {
            chat.end(self.0)?;
            Ok(Shape::SingleChat)
        } else if full {
            Ok(Shape::Full)
        } else {
            Ok(Shape::Neither)
        }
    }
}

/// The header fields of a chat object, as they come; its messages are read when reached.
#[derive(Default)]
struct ChatFields {
    name: Option<String>,
    kind: Option<String>,
    id: Option<i64>,
    /// The chat's place among the export's chats, once it is known to be one.
    index: Option<usize>,
    messages_read: bool,
    /// Whether the sink was told of the chat's start.
    started: bool,
}

impl ChatFields {
    fn field<'de, A: MapAccess<'de>, S: ExportSink>(
        &mut self,
        key: &str,
        map: &mut A,
        state: &mut State<'_, S>,
    ) -> Result<(), A::Error> {
        match key {
            "name" => self.name = map.next_value()?,
            "type" => self.kind = Some(map.next_value()?),
            "id" => self.id = Some(map.next_value()?),
            "messages" => {
                self.messages_read = true;
                let index = self.index(state);
                let header = self.header().or_else(|| state.known.get(index).cloned());
                let Some(header) = header else {
                    // Before the chat's type and id: check the messages, deliver nothing.
                    let name = self
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("#{}", index + 1));
                    return map.next_value_seed(Messages {
                        state: &mut *state,
                        context: ChatContext { channel_id: 0 },
                        name,
                        deliver: false,
                    });
                };
                self.started = true;
                if start(state, &header)? {
                    map.next_value_seed(Messages {
                        state: &mut *state,
                        context: ChatContext {
                            channel_id: header.channel_id(),
                        },
                        name: header.name,
                        deliver: true,
                    })?;
                    state.sink.chat_end().map_err(|_| state.halt())?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn index<S>(&mut self, state: &mut State<'_, S>) -> usize {
        *self.index.get_or_insert_with(|| {
            state.next_chat += 1;
            state.next_chat - 1
        })
    }

    fn header(&self) -> Option<ChatHeader> {
        let raw_id = self.id?;
        Some(ChatHeader {
            name: self.name.clone().unwrap_or_else(|| raw_id.to_string()),
            title: self.name.clone(),
            kind: self.kind.clone()?,
            raw_id,
        })
    }

    /// A chat object of a list ended: one whose messages were not delivered (none, or read
    /// before its header) starts and ends here.
    fn end<E: de::Error, S: ExportSink>(mut self, state: &mut State<'_, S>) -> Result<(), E> {
        if self.started {
            return Ok(());
        }
        let index = self.index(state);
        let Some(header) = self.header() else {
            let chat = self.name.unwrap_or_else(|| format!("#{}", index + 1));
            return Err(state.fail(ExportError::Chat {
                chat,
                problem: "it has no type or id".to_owned(),
            }));
        };
        if start(state, &header)? {
            state.sink.chat_end().map_err(|_| state.halt())?;
        }
        Ok(())
    }
}

/// Tells the sink a chat starts; whether it wants the messages.
fn start<E: de::Error, S: ExportSink>(
    state: &mut State<'_, S>,
    header: &ChatHeader,
) -> Result<bool, E> {
    if header.is_channel() {
        state.channels += 1;
    }
    state.sink.chat_start(header).map_err(|_| state.halt())
}

/// `{"about": ..., "list": [chat, ...]}` of a full export.
struct ChatList<'s, 'a, S>(&'s mut State<'a, S>);

impl<'de, S: ExportSink> DeserializeSeed<'de> for ChatList<'_, '_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: ExportSink> Visitor<'de> for ChatList<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a list of chats")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "list" {
                map.next_value_seed(Chats(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Chats<'s, 'a, S>(&'s mut State<'a, S>);

impl<'de, S: ExportSink> DeserializeSeed<'de> for Chats<'_, '_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, S: ExportSink> Visitor<'de> for Chats<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of chats")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Chat(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct Chat<'s, 'a, S>(&'s mut State<'a, S>);

impl<'de, S: ExportSink> DeserializeSeed<'de> for Chat<'_, '_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: ExportSink> Visitor<'de> for Chat<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut chat = ChatFields::default();
        while let Some(key) = map.next_key::<String>()? {
            chat.field(&key, &mut map, self.0)?;
        }
        chat.end(self.0)
    }
}

/// A chat's `messages` array, mapped and (when `deliver`) handed to the sink one by one.
struct Messages<'s, 'a, S> {
    state: &'s mut State<'a, S>,
    context: ChatContext,
    name: String,
    deliver: bool,
}

impl<'de, S: ExportSink> DeserializeSeed<'de> for Messages<'_, '_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, S: ExportSink> Visitor<'de> for Messages<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        state.chat = Some(self.name);
        let mut previous = None;
        loop {
            state.place = Some(Place {
                message: None,
                previous,
            });
            let Some(message) = seq.next_element::<MessageJson>()? else {
                break;
            };
            let id = message.id();
            let checked = mapping::message_row(message, &self.context, state.dates)
                .and_then(|row| state.sink.checked(&row).map(|()| row));
            match checked {
                Ok(row) => {
                    if self.deliver {
                        state.sink.message(row).map_err(|_| state.halt())?;
                    }
                }
                Err(problem) => {
                    state.place = Some(Place {
                        message: Some(id),
                        previous,
                    });
                    return Err(de::Error::custom(problem));
                }
            }
            previous = Some(id);
        }
        state.chat = None;
        state.place = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what it is given, and can stop after some messages.
    #[derive(Default)]
    struct Recorder {
        chats: Vec<String>,
        messages: Vec<i64>,
        ends: usize,
        stop_after: Option<usize>,
        /// A message id the sink finds a problem with.
        refuse: Option<i64>,
    }

    impl ExportSink for Recorder {
        fn chat_start(&mut self, chat: &ChatHeader) -> Result<bool, Halted> {
            self.chats
                .push(format!("{} {}", chat.name, chat.channel_id()));
            Ok(chat.is_channel())
        }

        fn message(&mut self, message: MessageRow) -> Result<(), Halted> {
            if self.stop_after == Some(self.messages.len()) {
                return Err(Halted);
            }
            self.messages.push(message.id);
            Ok(())
        }

        fn checked(&mut self, message: &MessageRow) -> Result<(), String> {
            match self.refuse {
                Some(id) if id == message.id => Err("the sink refuses it".to_owned()),
                _ => Ok(()),
            }
        }

        fn chat_end(&mut self) -> Result<(), Halted> {
            self.ends += 1;
            Ok(())
        }
    }

    fn read_str(text: &str) -> (Result<(), ReadStopped>, Recorder) {
        let mut sink = Recorder::default();
        let result = read(text.as_bytes(), &mut LocalDates::default(), &[], &mut sink);
        (result, sink)
    }

    fn error(text: &str) -> ExportError {
        match read_str(text).0 {
            Err(ReadStopped::Export(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    const MESSAGE: &str = r#"{"id": 1, "type": "message", "date_unixtime": "1", "text": ""}"#;

    #[test]
    fn a_full_export_streams_the_channels_of_both_lists() {
        let full = format!(
            r#"{{"about": "x", "chats": {{"about": "y", "list": [
                {{"name": "Bob", "type": "personal_chat", "id": 5, "messages": [{MESSAGE}]}},
                {{"name": "News", "type": "public_channel", "id": 9, "messages": [{MESSAGE}]}}
            ]}}, "left_chats": {{"list": [
                {{"name": "Old", "type": "private_supergroup", "id": 10083966286}}
            ]}}}}"#
        );
        let (result, sink) = read_str(&full);
        assert_eq!(result, Ok(()));
        assert_eq!(sink.chats, ["Bob 5", "News 9", "Old 1494031694"]);
        assert_eq!((sink.messages, sink.ends), (vec![1], 2));
    }

    #[test]
    fn reading_stops_when_the_sink_halts() {
        let chat = format!(
            r#"{{"name": "N", "type": "public_channel", "id": 9, "messages": [{MESSAGE}, {MESSAGE}, {MESSAGE}]}}"#
        );
        let mut sink = Recorder {
            stop_after: Some(1),
            ..Recorder::default()
        };
        let result = read(chat.as_bytes(), &mut LocalDates::default(), &[], &mut sink);
        assert_eq!(result, Err(ReadStopped::Halted));
        assert_eq!(sink.messages, vec![1]);
    }

    #[test]
    fn a_message_the_sink_refuses_stops_the_reading_and_is_named() {
        let chat = "{\"name\": \"News\", \"type\": \"public_channel\", \"id\": 9, \"messages\": [\n\
                    {\"id\": 1, \"date_unixtime\": \"1\", \"text\": \"\"},\n\
                    {\"id\": 2, \"date_unixtime\": \"1\", \"text\": \"\"},\n\
                    {\"id\": 3, \"date_unixtime\": \"1\", \"text\": \"\"}\n]}";
        let mut sink = Recorder {
            refuse: Some(2),
            ..Recorder::default()
        };
        let result = read(chat.as_bytes(), &mut LocalDates::default(), &[], &mut sink);
        let Err(ReadStopped::Export(ExportError::Message {
            chat,
            place,
            problem,
            ..
        })) = result
        else {
            panic!("{result:?}");
        };
        assert_eq!(
            (chat.as_str(), place.as_str(), problem.as_str()),
            ("News", "message 2", "the sink refuses it")
        );
        assert_eq!(sink.messages, vec![1]);
    }

    /// An endless export: reading it whole would never end.
    struct Endless {
        header: Option<&'static [u8]>,
        next_id: u64,
        pending: Vec<u8>,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if let Some(header) = self.header.take() {
                self.pending.extend_from_slice(header);
            }
            if self.pending.is_empty() {
                self.next_id += 1;
                let comma = if self.next_id == 1 { "" } else { "," };
                self.pending.extend_from_slice(
                    format!(
                        r#"{comma}{{"id": {}, "date_unixtime": "1", "text": "x"}}"#,
                        self.next_id
                    )
                    .as_bytes(),
                );
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn messages_reach_the_sink_while_the_file_is_still_being_read() {
        let endless = Endless {
            header: Some(br#"{"name": "N", "type": "public_channel", "id": 9, "messages": ["#),
            next_id: 0,
            pending: Vec::new(),
        };
        let mut sink = Recorder {
            stop_after: Some(250),
            ..Recorder::default()
        };
        let result = read(endless, &mut LocalDates::default(), &[], &mut sink);
        assert_eq!(result, Err(ReadStopped::Halted));
        assert_eq!(sink.messages, (1..=250).collect::<Vec<_>>());
    }

    #[test]
    fn problems_name_the_chat_and_message_and_where_in_the_file() {
        let no_id = "{\"name\": \"News\", \"type\": \"public_channel\", \"id\": 9, \"messages\": [\n\
                     {\"id\": 41, \"date_unixtime\": \"1\", \"text\": \"\"},\n\
                     {\"date_unixtime\": \"2\", \"text\": \"\"}\n]}";
        assert_eq!(
            error(no_id),
            ExportError::Message {
                chat: "News".into(),
                place: "the message after message 41".into(),
                problem: "missing field `id`".into(),
                line: 3,
                column: 34,
            }
        );
        let no_date = r#"{"name": "News", "type": "public_channel", "id": 9,
                          "messages": [{"id": 4, "type": "message", "text": "x"}]}"#;
        let message = error(no_date).to_string();
        assert!(
            message.starts_with("chat \"News\", message 4: has no date (line 2"),
            "{message}"
        );
        let nameless = format!(r#"{{"chats": {{"list": [{{"messages": [{MESSAGE}]}}]}}}}"#);
        assert_eq!(
            error(&nameless),
            ExportError::Chat {
                chat: "#1".into(),
                problem: "it has no type or id".into()
            }
        );
    }

    /// `depth` nested arrays, and as many nested objects, around one number.
    fn nested(depth: usize) -> (String, String) {
        let arrays = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", r#"{"a": "#.repeat(depth), "}".repeat(depth));
        (arrays, objects)
    }

    #[test]
    fn valid_json_nested_deeply_in_fields_the_reader_ignores_is_read() {
        for depth in [200, 10_000] {
            let (arrays, objects) = nested(depth);
            let full = format!(
                r#"{{"about": {arrays}, "chats": {{"about": {objects}, "list": [
                    {{"name": "News", "type": "public_channel", "id": 9, "extra": {objects},
                      "messages": [
                        {{"id": 1, "type": "message", "date_unixtime": "1", "text": "",
                          "extra": {arrays}, "more": {objects}}},
                        {{"extra": {objects}, "id": 2, "date_unixtime": "1", "type": "message"}},
                        {{"id": 3, "type": "service", "action": "pin_message",
                          "date_unixtime": "1", "extra": {arrays}, "message_id": 1}}
                    ]}}
                ]}}}}"#
            );
            let (result, sink) = read_str(&full);
            assert_eq!(result, Ok(()), "nested {depth} levels deep");
            assert_eq!(sink.messages, [1, 2, 3], "nested {depth} levels deep");
        }
    }

    #[test]
    fn sorted_keys_are_read_in_two_passes() {
        // As `jq -S` writes it: the messages come before the chat's type and id.
        let sorted = format!(
            r#"{{"id": 9, "messages": [{MESSAGE}], "name": "News", "type": "public_channel"}}"#
        );
        let (result, first) = read_str(&sorted);
        assert_eq!(result, Ok(()));
        assert_eq!(
            (first.chats, first.messages.len(), first.ends),
            (vec!["News 9".to_owned()], 0, 1)
        );
        let known = [ChatHeader {
            name: "News".into(),
            title: Some("News".into()),
            kind: "public_channel".into(),
            raw_id: 9,
        }];
        let mut second = Recorder::default();
        let result = read(
            sorted.as_bytes(),
            &mut LocalDates::default(),
            &known,
            &mut second,
        );
        assert_eq!(result, Ok(()));
        assert_eq!((second.messages, second.ends), (vec![1], 1));
    }

    #[test]
    fn unreadable_files_say_why_without_quoting() {
        let broken = error("{\"name\": \"secret-ish\", ");
        assert!(matches!(broken, ExportError::Json { .. }), "{broken}");
        assert!(!broken.to_string().contains("secret-ish"), "{broken}");
        assert_eq!(error("{}"), ExportError::Shape);
        assert!(matches!(error("[1, 2]"), ExportError::Json { .. }));
        let personal = r#"{"name": "Bob", "type": "personal_chat", "id": 5, "messages": []}"#;
        assert_eq!(error(personal), ExportError::NoChannels);
        assert!(matches!(
            error(&format!("{personal} trailing")),
            ExportError::Json { .. }
        ));
    }
}
