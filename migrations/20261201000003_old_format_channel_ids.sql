-- Issue 9: channels imported from pre-2022 Telegram Desktop exports were stored under the
-- exporter's id + 0x200000000 (e.g. 10083966286 for channel 1494031694), so they never met
-- the channel `collect` stores. Move them (and their messages) to the bare id. Channel ids
-- were 32-bit signed before 2021 and are below 2^33 today, so the range names old ids only.
-- Where the bare id is already stored, what is stored wins and only fills in what it lacks.

INSERT INTO channels (id, title, checkpoint, last_collected_at)
SELECT id - 8589934592, title, checkpoint, last_collected_at
  FROM channels
 WHERE id BETWEEN 8589934592 AND 8589934592 + 2147483647
    ON CONFLICT (id) DO UPDATE SET
       title = COALESCE(channels.title, EXCLUDED.title),
       checkpoint = GREATEST(channels.checkpoint, EXCLUDED.checkpoint),
       last_collected_at = GREATEST(channels.last_collected_at, EXCLUDED.last_collected_at);

INSERT INTO messages (channel_id, message_id, date, edit_date, text, views, forwards, replies,
                      post_author, grouped_id, reply_to_message_id, forward, media_kind, media,
                      reactions, collected_at, entities, from_id, from_name,
                      reply_to_other_chat, action, action_data, source, observed_at)
SELECT channel_id - 8589934592, message_id, date, edit_date, text, views, forwards, replies,
       post_author, grouped_id, reply_to_message_id, forward, media_kind, media,
       reactions, collected_at, entities, from_id, from_name,
       reply_to_other_chat, action, action_data, source, observed_at
  FROM messages
 WHERE channel_id BETWEEN 8589934592 AND 8589934592 + 2147483647
    ON CONFLICT (channel_id, message_id) DO UPDATE SET
       -- The moved row's text only if it is a later edit.
       text = CASE WHEN EXCLUDED.edit_date > COALESCE(messages.edit_date, '-infinity')
                   THEN EXCLUDED.text ELSE messages.text END,
       edit_date = GREATEST(messages.edit_date, EXCLUDED.edit_date),
       views = COALESCE(messages.views, EXCLUDED.views),
       forwards = COALESCE(messages.forwards, EXCLUDED.forwards),
       replies = COALESCE(messages.replies, EXCLUDED.replies),
       post_author = COALESCE(messages.post_author, EXCLUDED.post_author),
       grouped_id = COALESCE(messages.grouped_id, EXCLUDED.grouped_id),
       reply_to_message_id = COALESCE(messages.reply_to_message_id, EXCLUDED.reply_to_message_id),
       forward = COALESCE(messages.forward, EXCLUDED.forward),
       media_kind = COALESCE(messages.media_kind, EXCLUDED.media_kind),
       media = COALESCE(messages.media, EXCLUDED.media),
       reactions = COALESCE(messages.reactions, EXCLUDED.reactions);

DELETE FROM messages WHERE channel_id BETWEEN 8589934592 AND 8589934592 + 2147483647;
DELETE FROM channels WHERE id BETWEEN 8589934592 AND 8589934592 + 2147483647;
