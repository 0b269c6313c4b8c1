// GraphQL over HTTP as the graphql-http reference audits check it, and the request a careless
// client sends without a Content-Type.

import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";

import { serverAudits } from "graphql-http";

import { API_URL } from "./lib.mjs";

// What graphql-http 1.23.1 (pinned in package.json) audits: a new version may add audits.
const AUDITS_PER_LEVEL = { MUST: 13, SHOULD: 23, MAY: 25 };

test("graphql-http's audits: every MUST and every SHOULD passes", async (t) => {
  const results = [];
  for (const audit of serverAudits({ url: API_URL })) {
    results.push({ level: audit.name.split(" ")[0], ...(await audit.fn()) });
  }
  const perLevel = {};
  for (const { level } of results) perLevel[level] = (perLevel[level] ?? 0) + 1;
  assert.deepEqual(perLevel, AUDITS_PER_LEVEL);

  for (const result of results.filter((r) => r.level === "MAY" && r.status !== "ok")) {
    t.diagnostic(`${result.status} ${result.id} ${result.name}: ${result.reason}`);
  }
  const failed = results
    .filter((r) => r.level !== "MAY" && r.status !== "ok")
    .map((r) => `${r.status} ${r.id} ${r.name}: ${r.reason}`);
  assert.deepEqual(failed, [], `failed audits:\n${failed.join("\n")}`);
});

// A POST whose headers name no Content-Type at all (fetch would add text/plain).
function postWithoutContentType(body) {
  return new Promise((resolve, reject) => {
    const sent = request(
      API_URL,
      { method: "POST", headers: { accept: "application/json" } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode,
            contentType: response.headers["content-type"],
            text,
          }),
        );
      },
    );
    sent.on("error", reject);
    sent.end(body);
  });
}

test("a POST without Content-Type is refused with 415 and a JSON error", async () => {
  const response = await postWithoutContentType(JSON.stringify({ query: "{ __typename }" }));
  assert.equal(response.status, 415, response.text);
  assert.match(response.contentType, /^application\/json\b/);
  const body = JSON.parse(response.text);
  assert.equal(body.data, undefined);
  assert.equal(body.errors.length, 1);
  assert.match(body.errors[0].message, /content-type/i);
  assert.equal(body.errors[0].extensions.code, "BAD_USER_INPUT");
});
