-- Issue 9: one form for a forward's origin. `collect` wrote "channel:777", `import` wrote
-- "channel3397140320"; both become {"type": "channel", "id": 777}. Channel ids of pre-2022
-- exports carry 0x200000000 (8589934592) and are decoded as the importer now does.
-- One pass over messages; only rows with a string from_id are rewritten.
UPDATE messages
   SET forward = jsonb_set(
           forward,
           '{from_id}',
           jsonb_build_object(
               'type', origin.kind,
               'id', CASE
                         WHEN origin.kind = 'channel'
                              AND origin.id BETWEEN 8589934592 AND 8589934592 + 2147483647
                         THEN origin.id - 8589934592
                         ELSE origin.id
                     END))
  FROM (SELECT channel_id, message_id,
               substring(forward->>'from_id' FROM '^(user|chat|channel)') AS kind,
               substring(forward->>'from_id' FROM '([0-9]+)$')::bigint AS id
          FROM messages
         WHERE jsonb_typeof(forward->'from_id') = 'string'
           AND forward->>'from_id' ~ '^(user|chat|channel):?[0-9]{1,19}$') AS origin
 WHERE messages.channel_id = origin.channel_id
   AND messages.message_id = origin.message_id;
