// The ceiling of `./dev bench`: the least a worker can do to answer each read scenario with the
// same D1 work as the edge, in the same runtime (wrangler dev, local D1). No handler of ours can
// beat it, so the bench reports our figures as a percentage of its.
//
// What it leaves out, on purpose: authentication (the caller names the owner in `x-owner`; the
// edge verifies a JWT and reads the user from D1 first), the rate limiter, request ids, logs,
// CORS and every check of the query string beyond telling the scenarios apart. What it keeps:
// the SQL, statement for statement, as edge/src/projects/sql.rs builds it for these requests
// (SQLite builds the JSON; a list is its count and its page in one batch), and a body of the
// same shape and size, built by splicing SQLite's JSON text, never parsing it.
//
// Routes (GET only; anything else is a 400, so a scenario that drifts fails loudly):
//   /health/                                          {"status":"ok"}, no D1 (?log=1: and a log line)
//   /api/v1/tasks/?done=false&ordering=-due_date      count + 20-row page
//   /api/v1/tasks/?search=TERMS                       count + 20-row page, every term matched
//   /api/v1/tasks/{id}/                               one task of the owner
//   /api/v1/projects/                                 count + 20 projects, their tasks nested

const PAGE_SIZE = 20;

// ---------------------------------------------------------------------------------------------
// THE SQL. A mirror of edge/src/projects/sql.rs for the requests above: keep the two in step.
// Everything that depends on how the edge counts and searches is in STRATEGIES below, the one
// place to change when the edge does.
// ---------------------------------------------------------------------------------------------

const bool = (column) => `json(CASE WHEN ${column} THEN 'true' ELSE 'false' END)`;

// `task_json(alias)`: Task::FIELDS in order.
const taskJson = (a) =>
  `json_object('id', ${a}.id, 'project', ${a}.project_id, 'title', ${a}.title, ` +
  `'detail', ${a}.detail, 'done', ${bool(`${a}.done`)}, 'due_date', ${a}.due_date, ` +
  `'created_at', ${a}.created_at)`;

// `project_json()`: Project::FIELDS, then ProjectView::NESTED, with the strategy's task count.
const projectJson = (taskCount) =>
  `json_object('id', p.id, 'owner', p.owner_id, 'name', p.name, 'description', p.description, ` +
  `'is_archived', ${bool("p.is_archived")}, 'created_at', p.created_at, ` +
  `'task_count', ${taskCount}, ` +
  `'tasks', json((SELECT coalesce(json_group_array(json(nested.item)), '[]') FROM ` +
  `(SELECT ${taskJson("n")} AS item FROM tasks n WHERE n.project_id = p.id ORDER BY n.id) AS nested)))`;

// `as_array(page_sql)`.
const asArray = (pageSql) =>
  `SELECT coalesce(json_group_array(json(page.item)), '[]') AS json FROM (${pageSql}) AS page`;

// `Conditions::search`: every (folded) term a substring of the title or the detail; the terms
// are bound from ?first on.
const exactTerms = (terms, first) =>
  terms.map((_, i) => ` AND (instr(t.title_folded, ?${first + i}) > 0 OR instr(t.detail_folded, ?${first + i}) > 0)`).join("");

// `count(table, conditions)` and `page(table, alias, item_json, conditions, ordering, window)`.
const countAll = (table, where) => `SELECT count(*) AS n FROM ${table} WHERE ${where}`;
const pageOf = (table, itemJson, where, orderBy, n) =>
  asArray(`SELECT ${itemJson} AS item FROM ${table} WHERE ${where}${orderBy} LIMIT ?${n + 1} OFFSET ?${n + 2}`);

const BY_DUE_DESC = " ORDER BY t.due_sort DESC, t.id DESC";
const BY_CREATED_DESC = " ORDER BY t.created_at DESC, t.id DESC";

// SEARCH and COUNT: how the edge counts a list and finds a search's tasks. Chosen once per
// isolate by the D1 schema (scripts/bench.sh copies the stack's D1, so the schema is the
// migrations the edge runs with); each returns [sql, params] for the count and the page.
const STRATEGIES = {
  // Before migration 0007: count(*) over the owner's index, search by `instr` on every task.
  scan: {
    projectTaskCount: "(SELECT count(*) FROM tasks c WHERE c.project_id = p.id)",
    list(owner, done) {
      const where = "t.owner_id = ?1 AND t.done = ?2", params = [owner, done];
      return [[countAll("tasks t", where), params],
              [pageOf("tasks t", taskJson("t"), where, BY_DUE_DESC, 2), [...params, PAGE_SIZE, 0]]];
    },
    search(owner, terms) {
      const where = "t.owner_id = ?1" + exactTerms(terms, 2), params = [owner, ...terms];
      return [[countAll("tasks t", where), params],
              [pageOf("tasks t", taskJson("t"), where, BY_CREATED_DESC, params.length), [...params, PAGE_SIZE, 0]]];
    },
  },
  // Migration 0007: counts from `task_counts` (`stored_task_count`); a search of terms of 3 or
  // more characters answered by the trigram index `tasks_fts` (`phrase_query`,
  // `TASKS_NARROWED`, `narrowed_page`), its count from the index alone when nothing else
  // filters it (`indexed_search_count`); shorter terms checked with `instr` on the rows.
  indexed: {
    projectTaskCount: "(SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.project_id = p.id)",
    list(owner, done) {
      const where = "t.owner_id = ?1 AND t.done = ?2", params = [owner, done];
      return [["SELECT coalesce(sum(n), 0) AS n FROM task_counts WHERE owner_id = ?1 AND done = ?2", params],
              [pageOf("tasks t", taskJson("t"), where, BY_DUE_DESC, 2), [...params, PAGE_SIZE, 0]]];
    },
    search(owner, terms) {
      const match = phraseQuery(owner, terms);
      if (match === null) return STRATEGIES.scan.search(owner, terms);
      const short = terms.filter((t) => [...t].length < 3);
      const narrowed = "tasks_fts f CROSS JOIN tasks t ON t.id = f.rowid";
      const where = "f.tasks_fts MATCH ?1 AND t.owner_id = ?2" + exactTerms(short, 3);
      const params = [match, owner, ...short], n = params.length;
      const count = short.length === 0
        ? ["SELECT count(*) AS n FROM tasks_fts WHERE tasks_fts MATCH ?1", [match]]
        : [countAll(narrowed, where), params];
      const ids = `SELECT t.id FROM ${narrowed} WHERE ${where}${BY_CREATED_DESC} LIMIT ?${n + 1} OFFSET ?${n + 2}`;
      const page = asArray(`SELECT ${taskJson("t")} AS item FROM (${ids}) AS w CROSS JOIN tasks t ON t.id = w.id${BY_CREATED_DESC}`);
      return [count, [page, [...params, PAGE_SIZE, 0]]];
    },
  },
};

// `phrase_query`: the owner's tag in column `owner`, and each distinct term of 3+ characters
// as a phrase in the searched columns; null when every term is shorter.
function phraseQuery(owner, terms) {
  const long = [...new Set(terms.filter((t) => [...t].length >= 3))];
  if (long.length === 0) return null;
  const quoted = (text) => `"${text.replaceAll('"', '""')}"`;
  return [`owner:${quoted(`#${owner}#`)}`, ...long.map((t) => `{title detail}:${quoted(t)}`)].join(" AND ");
}

let chosen = null;
async function strategy(db) {
  if (chosen === null) {
    const { results } = await db
      .prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('tasks_fts', 'task_counts')")
      .all();
    const name = results[0].n === 2 ? "indexed" : "scan";
    // Once per isolate, to wrangler's log: the bench reports which one ran.
    console.log(`ceiling: D1 strategy ${name}`);
    chosen = STRATEGIES[name];
  }
  return chosen;
}

const prepared = (db, [sql, params]) => db.prepare(sql).bind(...params);

// The task list of `done=false&ordering=-due_date`: `task_list` with filters.done and the
// ordering on `due_sort` (NULL dates as the largest), ties on id.
const taskList = async (db, owner, done) => (await strategy(db)).list(owner, done ? 1 : 0).map((s) => prepared(db, s));

// The task list of `search=...`: `task_list` with the terms, the default ordering -created_at.
const taskSearch = async (db, owner, terms) => (await strategy(db)).search(owner, terms).map((s) => prepared(db, s));

// `project_list` with no terms, the default ordering -created_at.
async function projectList(db, owner) {
  const json = projectJson((await strategy(db)).projectTaskCount);
  return [
    prepared(db, [countAll("projects p", "p.owner_id = ?1"), [owner]]),
    prepared(db, [pageOf("projects p", json, "p.owner_id = ?1", " ORDER BY p.created_at DESC, p.id DESC", 1), [owner, PAGE_SIZE, 0]]),
  ];
}

// `task_detail`.
const TASK_DETAIL = `SELECT ${taskJson("t")} AS json FROM tasks t WHERE t.id = ?1 AND t.owner_id = ?2`;

// ---------------------------------------------------------------------------------------------

const JSON_HEADERS = { "content-type": "application/json" };

const reply = (status, body) => new Response(body, { status, headers: JSON_HEADERS });
const refuse = (why) => reply(400, JSON.stringify({ ceiling: why }));

// DRF's paginated body around SQLite's JSON text, with the same links the edge writes.
async function paginated(db, url, statements) {
  const [counted, paged] = await db.batch(await statements);
  const count = counted.results[0].n;
  let next = "null";
  if (count > PAGE_SIZE) {
    const query = new URLSearchParams(url.search);
    query.set("page", "2");
    next = JSON.stringify(`${url.origin}${url.pathname}?${query}`);
  }
  return reply(200, `{"count":${count},"next":${next},"previous":null,"results":${paged.results[0].json}}`);
}

// `search_terms` for plain words (the scenario's), folded as `replica::fold` does.
const terms = (raw) => raw.split(/[\s,]+/).filter(Boolean).map((t) => t.toLowerCase());

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/health/") {
      // ?log=1: plus one log line, what the edge's access line costs when written for every
      // request (ACCESS_LOG=all; locally, wrangler dev carries it to its terminal).
      if (url.search === "?log=1") console.log(`{"level":"info","message":"GET /health/ 200","path":"${path}"}`);
      return reply(200, '{"status":"ok"}');
    }
    if (request.method !== "GET") return refuse("GET only");
    const owner = Number(request.headers.get("x-owner"));
    if (!Number.isInteger(owner) || owner <= 0) return refuse("x-owner: the owner's id");
    const q = url.searchParams;
    const keys = [...q.keys()].sort().join(",");
    if (path === "/api/v1/tasks/") {
      if (keys === "search") return paginated(env.DB, url, taskSearch(env.DB, owner, terms(q.get("search"))));
      if (keys === "done,ordering" && q.get("ordering") === "-due_date" && ["true", "false"].includes(q.get("done")))
        return paginated(env.DB, url, taskList(env.DB, owner, q.get("done") === "true"));
      return refuse("tasks: ?done=...&ordering=-due_date or ?search=... only");
    }
    if (path === "/api/v1/projects/" && keys === "") return paginated(env.DB, url, projectList(env.DB, owner));
    const detail = /^\/api\/v1\/tasks\/(\d+)\/$/.exec(path);
    if (detail && keys === "") {
      const json = await env.DB.prepare(TASK_DETAIL).bind(Number(detail[1]), owner).first("json");
      return json === null ? reply(404, '{"detail":"Not found."}') : reply(200, json);
    }
    return refuse(`no such scenario: ${path}`);
  },
};
