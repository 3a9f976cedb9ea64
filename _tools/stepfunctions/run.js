#!/usr/bin/env node
// Runs one execution of a state machine definition in aws-local-stepfunctions,
// with every Task state handed to the caller (pkg/sfngrants's definition
// tests) over newline-delimited JSON:
//
//   stdin, first line: {"definition": "<ASL>", "input": {...}, "context": {...}}
//   stdout:            {"type":"task","id":N,"state":S,"resource":R,"input":{...},"token":T,"timeout_seconds":N}
//                      {"type":"event","event":"StateEntered"|"StateRetried"|"StateCaught"|"StateFailed","state":S,...}
//                      {"type":"end","status":"SUCCEEDED"|"FAILED","output":...,"error":...,"cause":...}
//   stdin, then:       {"type":"result","id":N,"output":X}          the task's result
//                      {"type":"error","id":N,"error":E,"cause":C}   the task failed with error E
//                      {"type":"success","token":T,"output":X}       SendTaskSuccess for a callback task
//                      {"type":"timeout","token":T}                  a callback task timed out
//
// Every Retry waits 0 ms (retryIntervalOverrides), so retries run at once.
//
// Timeouts are the caller's: a Task's TimeoutSecondsPath is read here from
// the task's parameters, checked (a positive integer, as Step Functions
// requires) and passed on as "timeout_seconds" in the task message; the
// state is given a timer that never fires within a test instead (the
// library's own timer would fire at once for a timeout beyond setTimeout's
// 24.8 days), and the caller sends "timeout" when it wants the task to time
// out.
//
// A Task whose resource ends in ".waitForTaskToken" is a callback task: the
// definition must pass "$$.Task.Token" in its parameters. The context object
// of aws-local-stepfunctions is fixed per execution, so its Task.Token is a
// marker; this script replaces the marker in the task's input by a token of
// its own, unique per task, and the task ends when the caller sends success,
// timeout, or error for it (the Lambda invocation itself failed).
'use strict';

if (typeof Promise.withResolvers !== 'function') {
  // Node 20 lacks it; aws-local-stepfunctions 3 uses it.
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const readline = require('node:readline');
const { StateMachine } = require('aws-local-stepfunctions');

const TOKEN_MARKER = '$$.Task.Token (local marker)';

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function replaceMarker(value, token) {
  if (value === TOKEN_MARKER) return { value: token, found: true };
  if (Array.isArray(value)) {
    let found = false;
    const out = value.map((v) => {
      const r = replaceMarker(v, token);
      found = found || r.found;
      return r.value;
    });
    return { value: out, found };
  }
  if (value !== null && typeof value === 'object') {
    let found = false;
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const r = replaceMarker(v, token);
      found = found || r.found;
      out[k] = r.value;
    }
    return { value: out, found };
  }
  return { value, found: false };
}

// A timer the library sets that outlasts any test, within setTimeout's range.
const NEVER_SECONDS = 2000000;

// lookup reads a reference path of plain fields ($.a.b.c) in value.
function lookup(path, value) {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) throw new Error(`unsupported path ${path}`);
  let v = value;
  for (const key of path.slice(2).split('.')) {
    if (v === null || typeof v !== 'object' || !(key in v)) return undefined;
    v = v[key];
  }
  return v;
}

function taskError(name, cause) {
  const err = new Error(cause === undefined ? '' : String(cause));
  err.name = name;
  return err;
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const lines = rl[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('no setup line on stdin');
  const setup = JSON.parse(first.value);
  const definition = typeof setup.definition === 'string' ? JSON.parse(setup.definition) : setup.definition;
  const context = setup.context || {};
  context.Task = { Token: TOKEN_MARKER };

  const pending = new Map(); // task id -> {resolve, reject}
  const callbacks = new Map(); // token -> {resolve, reject, id}
  let nextID = 0;

  const handlers = {};
  const retryOverrides = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Retry) retryOverrides[name] = 0;
    if (state.Type !== 'Task') continue;
    const timeoutPath = state.TimeoutSecondsPath;
    if (timeoutPath !== undefined) {
      delete state.TimeoutSecondsPath;
      state.TimeoutSeconds = NEVER_SECONDS;
    }
    handlers[name] = (input) => {
      const id = ++nextID;
      const { promise, resolve, reject } = Promise.withResolvers();
      const msg = { type: 'task', id, state: name, resource: state.Resource, input };
      if (timeoutPath !== undefined) {
        const t = lookup(timeoutPath, input);
        if (!Number.isInteger(t) || t < 1) {
          return Promise.reject(
            taskError('States.Runtime', `TimeoutSecondsPath ${timeoutPath} is ${JSON.stringify(t)}, not a positive integer`),
          );
        }
        msg.timeout_seconds = t;
      }
      if (state.Resource.endsWith('.waitForTaskToken')) {
        const token = `${context.Execution && context.Execution.Name}-token-${id}`;
        const r = replaceMarker(input, token);
        msg.input = r.value;
        msg.token = r.found ? token : null;
        callbacks.set(token, { resolve, reject, id });
      }
      pending.set(id, { resolve, reject, token: msg.token });
      send(msg);
      return promise;
    };
  }

  (async () => {
    for await (const line of lines) {
      if (!line.trim()) continue;
      const msg = JSON.parse(line);
      if (msg.type === 'result') {
        const p = pending.get(msg.id);
        if (p && !p.token) {
          pending.delete(msg.id);
          p.resolve(msg.output);
        }
      } else if (msg.type === 'error') {
        const p = pending.get(msg.id);
        if (p) {
          pending.delete(msg.id);
          if (p.token) callbacks.delete(p.token);
          p.reject(taskError(msg.error, msg.cause));
        }
      } else if (msg.type === 'success' || msg.type === 'timeout') {
        const c = callbacks.get(msg.token);
        if (c) {
          callbacks.delete(msg.token);
          pending.delete(c.id);
          if (msg.type === 'success') c.resolve(msg.output);
          else c.reject(taskError('States.Timeout', 'the task timed out'));
        }
      }
    }
  })();

  const sm = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = sm.run(setup.input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retryOverrides },
    context,
  });
  const logging = (async () => {
    for await (const ev of execution.eventLogs) {
      if (ev.type && ev.type.startsWith('State')) {
        const out = { type: 'event', event: ev.type, state: ev.state && ev.state.name };
        if (ev.Error !== undefined) out.error = ev.Error;
        send(out);
      }
    }
  })();
  let end;
  try {
    const output = await execution.result;
    end = { type: 'end', status: 'SUCCEEDED', output };
  } catch (err) {
    // The library wraps the failure in an ExecutionError; its cause is the
    // error the execution failed with (a Fail state's Error and Cause).
    const cause = err && err.name === 'ExecutionError' && err.cause ? err.cause : err;
    end = { type: 'end', status: 'FAILED', error: cause.name, cause: cause.message };
  }
  await logging.catch(() => {});
  process.stdout.write(JSON.stringify(end) + '\n', () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`run.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
