-- Argo CD health check for collection.mtproto.dev/ChannelCollection.
--
-- Install it in argocd-cm under
--   resource.customizations.health.collection.mtproto.dev_ChannelCollection
-- (see docs/install.md). Argo CD runs it with gopher-lua (Lua 5.1), and the
-- tests in crds/tests/argocd_health.rs run it with Lua 5.4, so it sticks to
-- the common subset: no goto, no integer division, no table.unpack.
--
-- Precedence, first match wins:
--   no status, or status.observedGeneration behind metadata.generation -> Progressing
--   condition Stalled=True (the spec cannot run as written)           -> Degraded
--   status.state Failed (the latest run failed)                       -> Degraded
--   spec.suspend, or status.state Suspended                           -> Suspended
--   status.state Collecting or Waiting (flood wait)                   -> Progressing
--   condition Ready=True                                              -> Healthy
--   condition Ready=False and not Reconciling                         -> Degraded
--   anything else (Ready Unknown or missing, Reconciling=True)        -> Progressing

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

-- Argo CD hands numbers over as floats; print them as integers.
local function int(n)
  if n == nil then
    return "?"
  end
  return string.format("%d", n)
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function progress(status)
  local parts = {}
  local head = "Collecting"
  if status.progress ~= nil then
    head = head .. " " .. status.progress
  end
  if status.currentChannel ~= nil then
    head = head .. " (" .. status.currentChannel .. ")"
  end
  table.insert(parts, head)
  table.insert(parts, int(status.messagesCollectedCurrentRun or 0) .. " messages")
  table.insert(parts, int(status.errorsCurrentRun or 0) .. " errors")
  if status.eta ~= nil then
    table.insert(parts, "ETA " .. status.eta)
  end
  return table.concat(parts, ", ")
end

local hs = {}
local status = obj.status
local spec = obj.spec or {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. int(generation)
  return hs
end

local ready = condition(status, "Ready")
local stalled = condition(status, "Stalled")
local reconciling = condition(status, "Reconciling")

if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if status.state == "Failed" then
  hs.status = "Degraded"
  local run = status.lastRun
  if run ~= nil and run.message ~= nil and run.message ~= "" then
    hs.message = "Latest run " .. run.job .. " failed: " .. run.message
  elseif run ~= nil and run.reason ~= nil and run.reason ~= "" then
    hs.message = "Latest run " .. run.job .. " failed: " .. run.reason
  else
    hs.message = describe(ready, "Latest run failed")
  end
  return hs
end

if spec.suspend == true or status.state == "Suspended" then
  hs.status = "Suspended"
  if status.currentlyCollecting == true then
    hs.message = "Suspended; the run in progress is left to finish"
  else
    hs.message = "Suspended"
  end
  return hs
end

if status.state == "Waiting" then
  hs.status = "Progressing"
  local msg = "Telegram flood wait"
  if status.currentChannel ~= nil then
    msg = msg .. " on " .. status.currentChannel
  end
  if status.waitingUntil ~= nil then
    msg = msg .. " until " .. status.waitingUntil
  end
  hs.message = msg
  return hs
end

if status.state == "Collecting" then
  hs.status = "Progressing"
  hs.message = progress(status)
  return hs
end

if is_true(ready) then
  hs.status = "Healthy"
  if ready.message ~= nil and ready.message ~= "" then
    -- The operator's own words, e.g. "next run at ..." or "Job ... is collecting".
    hs.message = ready.message
  else
    hs.message = describe(ready, "Ready")
    if status.nextRunTime ~= nil then
      hs.message = hs.message .. "; next run at " .. status.nextRunTime
    end
  end
  return hs
end

if ready ~= nil and ready.status == "False" and not is_true(reconciling) then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(reconciling, describe(ready, "Reconciling"))
return hs
