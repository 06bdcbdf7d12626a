// The JavaScript SDK for Batch (@azure/batch 10.x on npm, api-version 2022-10-01.16.0, signed with
// BatchSharedKeyCredentials), run by test_js_sdk.py: pools, nodes, jobs, tasks and files end to
// end against the emulator over plain http on loopback.
//
// Usage: node js_sdk_scenario.cjs URL ACCOUNT KEY. Prints one JSON object of observations on its
// last line; the test makes the assertions, so a broken run shows what it saw.
"use strict";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const [url, account, key] = process.argv.slice(2);
const client = new BatchServiceClient(new BatchSharedKeyCredentials(account, key), url);
const seen = { apiVersion: client.apiVersion };
const image = {
  imageReference: { publisher: "canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts" },
  nodeAgentSKUId: "batch.node.ubuntu 22.04",
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function wait(predicate, what, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function errorCode(promise) {
  try {
    await promise;
  } catch (err) {
    return err.code || err.statusCode;
  }
  return null;
}

// Every page of a listing, following odata.nextLink with the operation's *Next method.
async function all(first, next) {
  const items = [];
  let page = await first;
  items.push(...page);
  while (page.odatanextLink) {
    page = await next(page.odatanextLink);
    items.push(...page);
  }
  return items;
}

async function text(response) {
  const chunks = [];
  for await (const chunk of response.readableStreamBody) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const nodeStates = async (poolId) =>
  (await all(client.computeNode.list(poolId), (l) => client.computeNode.listNext(l)))
    .map((n) => n.state)
    .sort();

async function main() {
  // -- pools and nodes ------------------------------------------------------------------
  await client.pool.add({
    id: "pjs",
    vmSize: "standard_d2s_v3",
    virtualMachineConfiguration: image,
    targetDedicatedNodes: 2,
    taskSlotsPerNode: 2,
    startTask: { commandLine: "/bin/sh -c 'echo ready'", waitForSuccess: true },
    metadata: [{ name: "owner", value: "js" }],
  });
  seen.poolDup = await errorCode(client.pool.add({ id: "pjs", vmSize: "standard_d2s_v3", virtualMachineConfiguration: image }));
  await wait(async () => JSON.stringify(await nodeStates("pjs")) === '["idle","idle"]', "two idle nodes");
  const pool = await client.pool.get("pjs");
  seen.pool = [pool.allocationState, pool.currentDedicatedNodes, pool.taskSlotsPerNode];
  seen.poolExists = [(await client.pool.exists("pjs")).body, (await client.pool.exists("nope")).body];
  seen.poolIds = (await all(client.pool.list(), (l) => client.pool.listNext(l))).map((p) => p.id);
  await client.pool.patch("pjs", { metadata: [{ name: "stage", value: "2" }] });
  seen.metadata = (await client.pool.get("pjs")).metadata.map((m) => [m.name, m.value]);
  seen.patchMissing = await errorCode(client.pool.patch("nope", { metadata: [] }));
  const nodes = await all(client.computeNode.list("pjs"), (l) => client.computeNode.listNext(l));
  const node = await client.computeNode.get("pjs", nodes[0].id);
  seen.node = [node.id === nodes[0].id, node.schedulingState, node.isDedicated];
  const nodeFiles = await all(
    client.file.listFromComputeNode("pjs", node.id, { recursive: true }),
    (l) => client.file.listFromComputeNodeNext(l),
  );
  seen.nodeFiles = nodeFiles.map((f) => f.name).sort();
  seen.startTaskStdout = await text(await client.file.getFromComputeNode("pjs", node.id, "startup/stdout.txt"));

  // -- jobs and tasks ---------------------------------------------------------------------
  await client.job.add({ id: "jjs", poolInfo: { poolId: "pjs" }, priority: 5, usesTaskDependencies: true });
  seen.jobDup = await errorCode(client.job.add({ id: "jjs", poolInfo: { poolId: "pjs" } }));
  await client.job.patch("jjs", { priority: 9 });
  seen.jobPriority = (await client.job.get("jjs")).priority;
  const hello = "/bin/sh -c 'echo hello $AZ_BATCH_TASK_ID; echo oops >&2'";
  const collection = await client.task.addCollection(
    "jjs",
    Array.from({ length: 20 }, (_, i) => ({ id: `t${i}`, commandLine: hello })),
  );
  seen.collection = collection.value.map((r) => r.status);
  await client.task.add("jjs", { id: "fails", commandLine: "/bin/sh -c 'exit 4'" });
  await client.task.add("jjs", { id: "after", commandLine: "/bin/true", dependsOn: { taskIds: ["t0", "t1"] } });
  await client.task.add("jjs", { id: "slow", commandLine: "sleep 30", constraints: { maxWallClockTime: "PT1S" } });
  await wait(async () => (await client.job.getTaskCounts("jjs")).taskCounts.completed === 23, "23 completed");
  const counts = (await client.job.getTaskCounts("jjs")).taskCounts;
  seen.counts = [counts.active, counts.running, counts.completed, counts.succeeded, counts.failed];
  const paged = await all(client.task.list("jjs", { taskListOptions: { maxResults: 7 } }), (l) => client.task.listNext(l));
  seen.pagedIds = new Set(paged.map((t) => t.id)).size;
  const t0 = await client.task.get("jjs", "t0");
  seen.t0 = [t0.state, t0.executionInfo.exitCode, t0.executionInfo.result, t0.nodeInfo.poolId];
  const fails = await client.task.get("jjs", "fails");
  seen.fails = [fails.executionInfo.exitCode, fails.executionInfo.failureInfo.category];
  const slow = (await client.task.get("jjs", "slow")).executionInfo;
  seen.slow = [slow.result, slow.failureInfo.code];
  seen.after = (await client.task.get("jjs", "after")).executionInfo.result;
  const failed = await all(
    client.task.list("jjs", { taskListOptions: { filter: "executionInfo/result eq 'failure'", select: "id" } }),
    (l) => client.task.listNext(l),
  );
  seen.failedIds = failed.map((t) => t.id).sort();
  seen.taskMissing = await errorCode(client.task.get("jjs", "nope"));

  // -- task files -----------------------------------------------------------------------------
  seen.stdout = await text(await client.file.getFromTask("jjs", "t3", "stdout.txt"));
  seen.stderr = await text(await client.file.getFromTask("jjs", "t3", "stderr.txt"));
  const props = await client.file.getPropertiesFromTask("jjs", "t3", "stdout.txt");
  seen.stdoutLength = props.contentLength;
  const files = await all(client.file.listFromTask("jjs", "t3"), (l) => client.file.listFromTaskNext(l));
  seen.taskFiles = files.map((f) => f.name).sort();
  seen.fileMissing = await errorCode(client.file.getPropertiesFromTask("jjs", "t3", "nothing.txt"));
  // The file API's conditions are dates only: not modified since an hour ahead (304), not
  // unmodified since an hour ago (412), and both hold the other way round.
  const later = new Date(Date.now() + 3600e3);
  const earlier = new Date(Date.now() - 3600e3);
  seen.fileConditions = [
    await errorCode(client.file.getFromTask("jjs", "t3", "stdout.txt", { fileGetFromTaskOptions: { ifModifiedSince: later } })),
    await errorCode(client.file.getPropertiesFromTask("jjs", "t3", "stdout.txt", { fileGetPropertiesFromTaskOptions: { ifModifiedSince: later } })),
    await errorCode(client.file.getFromTask("jjs", "t3", "stdout.txt", { fileGetFromTaskOptions: { ifUnmodifiedSince: earlier } })),
    await errorCode(client.file.getFromComputeNode("pjs", node.id, "startup/stdout.txt", { fileGetFromComputeNodeOptions: { ifModifiedSince: later } })),
    await errorCode(client.file.getFromTask("jjs", "t3", "stdout.txt", { fileGetFromTaskOptions: { ifModifiedSince: earlier, ifUnmodifiedSince: later } })),
  ];

  // -- deleting task files ----------------------------------------------------------------
  await client.task.add("jjs", {
    id: "writer",
    commandLine: "/bin/sh -c 'mkdir -p out/deep && echo a > out/a.txt && echo b > out/deep/b.txt && mkdir empty'",
  });
  await wait(async () => (await client.task.get("jjs", "writer")).state === "completed", "writer completed");
  const names = async () =>
    (await all(client.file.listFromTask("jjs", "writer", { recursive: true }), (l) => client.file.listFromTaskNext(l)))
      .map((f) => f.name)
      .filter((n) => n.startsWith("wd/"))
      .sort();
  await client.file.deleteFromTask("jjs", "writer", "wd/out/a.txt");
  seen.fileDeletes = [
    await names(),
    await errorCode(client.file.deleteFromTask("jjs", "writer", "wd/out/a.txt")),
    await errorCode(client.file.deleteFromTask("jjs", "writer", "wd/out")),
    await errorCode(client.file.deleteFromTask("jjs", "writer", "wd/empty")),
    await errorCode(client.file.deleteFromTask("jjs", "writer", "wd/out", { recursive: true })),
    await names(),
  ];

  // -- update, reactivate, terminate, resize, delete --------------------------------------
  await client.task.update("jjs", "fails", { constraints: { maxTaskRetryCount: 0 } });
  const ended = String((await client.task.get("jjs", "fails")).executionInfo.endTime);
  await client.task.reactivate("jjs", "fails");
  await wait(async () => {
    const task = await client.task.get("jjs", "fails");
    seen.reactivated = task.executionInfo.exitCode;
    return task.state === "completed" && String(task.executionInfo.endTime) !== ended;
  }, "the reactivated task to run again");
  await client.task.add("jjs", { id: "long", commandLine: "sleep 60" });
  await wait(async () => (await client.task.get("jjs", "long")).state === "running", "long running");
  await client.task.terminate("jjs", "long");
  await wait(async () => (await client.task.get("jjs", "long")).state === "completed", "long terminated");
  await client.task.deleteMethod("jjs", "t19");
  seen.deletedTask = await errorCode(client.task.get("jjs", "t19"));
  await client.job.terminate("jjs");
  await wait(async () => (await client.job.get("jjs")).state === "completed", "job completed");
  await client.pool.resize("pjs", { targetDedicatedNodes: 1 });
  await wait(async () => JSON.stringify(await nodeStates("pjs")) === '["idle"]', "one node after resize");
  seen.afterResize = (await client.pool.get("pjs")).targetDedicatedNodes;
  await jobControl();
  await jobSchedules();
  await nodeOperations();
  await client.job.deleteMethod("jjs");
  await wait(async () => (await errorCode(client.job.get("jjs"))) === "JobNotFound", "job deleted");
  await client.pool.deleteMethod("pjs");
  await wait(async () => (await errorCode(client.pool.get("pjs"))) === "PoolNotFound", "pool deleted");
  const wrong = Buffer.from("not the key".repeat(4)).toString("base64");
  const intruder = new BatchServiceClient(new BatchSharedKeyCredentials(account, wrong), url);
  seen.wrongKey = await errorCode(intruder.pool.list());
}

// -- job disable / enable --------------------------------------------------------------------
async function jobControl() {
  await client.job.add({ id: "jdis", poolInfo: { poolId: "pjs" } });
  await client.job.disable("jdis", "requeue");
  await wait(async () => (await client.job.get("jdis")).state === "disabled", "job disabled");
  await client.task.add("jdis", { id: "held", commandLine: "/bin/true" });
  await sleep(500); // a disabled job's task stays active: nothing runs it
  const held = (await client.task.get("jdis", "held")).state;
  await client.job.enable("jdis");
  await wait(async () => (await client.task.get("jdis", "held")).state === "completed", "held ran once enabled");
  seen.jobControl = [held, (await client.job.get("jdis")).state, await errorCode(client.job.enable("nope"))];
  await client.job.terminate("jdis");
}

// -- job schedules ---------------------------------------------------------------------------
// The control surface (make a schedule's next job now) takes the same SharedKey signature as
// the Batch API: the SDK's own client sends it, signed by its credentials.
async function runScheduleNow(id) {
  const response = await client.sendRequest({
    method: "POST",
    url: `${url}/_emulator/schedules/run?api-version=2025-06-01`,
    body: { jobScheduleId: id },
    headers: { "Content-Type": "application/json; odata=minimalmetadata; charset=utf-8" },
  });
  if (response.status !== 200) throw new Error(`schedules/run: ${response.status} ${response.bodyAsText}`);
}

const scheduleJobs = async (id) =>
  (await all(client.job.listFromJobSchedule(id), (l) => client.job.listFromJobScheduleNext(l))).map((j) => j.id);

async function runTaskIn(jobId, taskId) {
  await client.task.add(jobId, { id: taskId, commandLine: "/bin/sh -c 'echo scheduled $AZ_BATCH_JOB_ID'" });
  await wait(async () => (await client.task.get(jobId, taskId)).state === "completed", `${taskId} completed`);
  return text(await client.file.getFromTask(jobId, taskId, "stdout.txt"));
}

async function jobSchedules() {
  const spec = { poolInfo: { poolId: "pjs" }, priority: 2 };
  await client.jobSchedule.add({
    id: "sjs",
    schedule: { recurrenceInterval: "PT1H" },
    jobSpecification: spec,
    metadata: [{ name: "owner", value: "js" }],
  });
  seen.scheduleDup = await errorCode(client.jobSchedule.add({ id: "sjs", schedule: {}, jobSpecification: spec }));
  seen.scheduleExists = [(await client.jobSchedule.exists("sjs")).body, (await client.jobSchedule.exists("nope")).body];
  seen.scheduleIds = (await all(client.jobSchedule.list(), (l) => client.jobSchedule.listNext(l))).map((s) => s.id);
  // Without doNotRunUntil the first job is made at once.
  await wait(async () => (await scheduleJobs("sjs")).length === 1, "the schedule's first job");
  seen.firstJob = [(await scheduleJobs("sjs"))[0], await runTaskIn("sjs:job-1", "s1")];
  const got = await client.jobSchedule.get("sjs");
  seen.schedule = [got.state, got.jobSpecification.priority, got.executionInfo.recentJob.id, Boolean(got.executionInfo.nextRunTime)];
  await client.jobSchedule.patch("sjs", { metadata: [{ name: "stage", value: "2" }] });
  seen.scheduleMetadata = (await client.jobSchedule.get("sjs")).metadata.map((m) => [m.name, m.value]);
  await client.jobSchedule.update("sjs", { schedule: { recurrenceInterval: "PT2H" }, jobSpecification: { ...spec, priority: 4 } });
  const updated = await client.jobSchedule.get("sjs");
  seen.scheduleUpdated = [updated.jobSpecification.priority, updated.metadata || []];
  await client.jobSchedule.disable("sjs");
  seen.scheduleDisabled = (await client.jobSchedule.get("sjs")).state;
  await client.jobSchedule.enable("sjs");
  // One active job at a time: the next run waits for job-1 to end.
  await client.job.terminate("sjs:job-1");
  await wait(async () => (await client.job.get("sjs:job-1")).state === "completed", "job-1 completed");
  await runScheduleNow("sjs");
  await wait(async () => (await scheduleJobs("sjs")).length === 2, "the schedule's second job");
  seen.secondJob = [(await scheduleJobs("sjs")).sort(), (await client.job.get("sjs:job-2")).priority, await runTaskIn("sjs:job-2", "s2")];
  await client.jobSchedule.terminate("sjs");
  await wait(async () => (await client.jobSchedule.get("sjs")).state === "completed", "schedule completed");
  seen.scheduleTerminated = (await client.job.get("sjs:job-2")).state;
  await client.jobSchedule.deleteMethod("sjs");
  await wait(async () => (await errorCode(client.jobSchedule.get("sjs"))) === "JobScheduleNotFound", "schedule deleted");
  seen.scheduleDeleted = [await errorCode(client.job.get("sjs:job-1")), await errorCode(client.jobSchedule.terminate("sjs"))];
}

// -- node operations -------------------------------------------------------------------------
async function nodeOperations() {
  const [first] = await all(client.computeNode.list("pjs"), (l) => client.computeNode.listNext(l));
  const id = first.id;
  const node = () => client.computeNode.get("pjs", id);
  await client.computeNode.disableScheduling("pjs", id, { nodeDisableSchedulingOption: "taskcompletion" });
  const disabled = (await node()).schedulingState;
  await client.computeNode.enableScheduling("pjs", id);
  seen.scheduling = [disabled, (await node()).schedulingState];
  const login = await client.computeNode.getRemoteLoginSettings("pjs", id);
  seen.remoteLogin = [login.remoteLoginIPAddress, typeof login.remoteLoginPort];
  await client.computeNode.addUser("pjs", id, { name: "ops", password: "Pa55word-js", isAdmin: false });
  seen.users = [await errorCode(client.computeNode.addUser("pjs", id, { name: "ops", password: "x" }))];
  await client.computeNode.deleteUser("pjs", id, "ops");
  seen.users.push(await errorCode(client.computeNode.deleteUser("pjs", id, "ops")));

  const booted = (await node()).lastBootTime.toISOString(); // String() drops the milliseconds
  // A local reboot or reimage may be over before the next request: what shows it is the new
  // boot time (and, after a reimage, the start task's output written again).
  await client.computeNode.reboot("pjs", id, { nodeRebootOption: "requeue" });
  await wait(async () => (await node()).state === "idle" && (await node()).lastBootTime.toISOString() !== booted, "rebooted");
  const rebooted = (await node()).lastBootTime.toISOString();
  await client.computeNode.reimage("pjs", id);
  await wait(async () => (await node()).state === "idle" && (await node()).lastBootTime.toISOString() !== rebooted, "reimaged");
  seen.maintenance = [(await node()).state, await errorCode(client.computeNode.reboot("pjs", "nope"))];
  // The start task ran again on the fresh disk: its output is there to delete.
  const nodeFileNames = async () =>
    (await all(client.file.listFromComputeNode("pjs", id, { recursive: true }), (l) => client.file.listFromComputeNodeNext(l))).map((f) => f.name);
  await client.file.deleteFromComputeNode("pjs", id, "startup/stderr.txt");
  seen.nodeFileDelete = [
    (await nodeFileNames()).includes("startup/stderr.txt"),
    (await nodeFileNames()).includes("startup/stdout.txt"),
    await errorCode(client.file.deleteFromComputeNode("pjs", id, "startup/stderr.txt")),
  ];

  const images = await all(client.account.listSupportedImages(), (l) => client.account.listSupportedImagesNext(l));
  seen.supportedImages = images.some((i) => i.nodeAgentSKUId === image.nodeAgentSKUId && i.osType === "linux");
  const counts = await all(client.account.listPoolNodeCounts(), (l) => client.account.listPoolNodeCountsNext(l));
  seen.nodeCounts = counts.map((c) => [c.poolId, c.dedicated.idle, c.dedicated.total, c.lowPriority.total]);

  // Grow, and stop the growth where it stands: the target becomes the nodes the pool has
  // (local nodes are at most the machine's cores: 2 or 3 here).
  await client.pool.resize("pjs", { targetDedicatedNodes: 3 });
  await client.pool.stopResize("pjs");
  await wait(async () => (await client.pool.get("pjs")).allocationState === "steady", "resize stopped");
  const stopped = await client.pool.get("pjs");
  seen.stopResize = [stopped.targetDedicatedNodes, stopped.currentDedicatedNodes];
  const allIdle = async (count) => {
    const states = await nodeStates("pjs");
    return states.length === count && states.every((state) => state === "idle");
  };
  await wait(() => allIdle(stopped.currentDedicatedNodes), "the grown pool's nodes idle");
  await client.pool.removeNodes("pjs", { nodeList: [id] });
  await wait(async () => (await errorCode(node())) === "NodeNotFound", "the removed node gone");
  await wait(async () => (await client.pool.get("pjs")).allocationState === "steady", "removal done");
  const removed = await client.pool.get("pjs");
  seen.removeNodes = [removed.targetDedicatedNodes, removed.currentDedicatedNodes];
}

main().then(
  () => console.log(JSON.stringify(seen)),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    console.error(JSON.stringify(seen));
    process.exit(1);
  },
);
