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
  await client.job.deleteMethod("jjs");
  await wait(async () => (await errorCode(client.job.get("jjs"))) === "JobNotFound", "job deleted");
  await client.pool.deleteMethod("pjs");
  await wait(async () => (await errorCode(client.pool.get("pjs"))) === "PoolNotFound", "pool deleted");
  // TODO(after the merge of job schedules and node operations): jobSchedule add/get/list/
  // terminate/delete, computeNodeOperations reboot/disableScheduling/enableScheduling.
  const wrong = Buffer.from("not the key".repeat(4)).toString("base64");
  const intruder = new BatchServiceClient(new BatchSharedKeyCredentials(account, wrong), url);
  seen.wrongKey = await errorCode(intruder.pool.list());
}

main().then(
  () => console.log(JSON.stringify(seen)),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    console.error(JSON.stringify(seen));
    process.exit(1);
  },
);
