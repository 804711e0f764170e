"""Checks, before a scenario is measured, that every target answers it, and answers the same.

usage: bench_check.py SCENARIO TARGET URL HEADER [TARGET URL HEADER]...

The first target is the reference (ours, at the runtime's socket). Each URL is fetched once
(GET; HEADER is one "name: value", or empty). Every target must answer 200, or the script
fails: a figure measured on errors would be worthless. Then the answers are compared with the
reference:
- our edge through wrangler dev and the ceiling worker read the same D1 rows, so a list's count
  and results, a detail's object and /health/'s body must be identical (the `next` link differs
  by host only, and is not compared);
- DRF has the same data under other ids: a list's count and page length must be equal, a
  detail's title (the same generated row) too.

Prints one line: each target's status and body size, then `same` or what differs (prefixed
`MISMATCH`, which the bench copies into its report).
"""
import json
import sys
import urllib.error
import urllib.request


def fetch(url, header):
    request = urllib.request.Request(url)
    if header:
        name, _, value = header.partition(":")
        request.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def compare(scenario, target, ref, other):
    same_data = not target.startswith("drf")
    if isinstance(ref, dict) and "results" in ref:
        if ref["count"] != other.get("count"):
            return f"count {other.get('count')} != {ref['count']}"
        if same_data and ref["results"] != other.get("results"):
            return "results differ"
        if len(ref["results"]) != len(other.get("results", [])):
            return f"{len(other.get('results', []))} results != {len(ref['results'])}"
        if not same_data and scenario == "nested":
            if [p.get("task_count") for p in ref["results"]] != [p.get("task_count") for p in other["results"]]:
                return "task counts differ"
        return None
    if same_data:
        return None if ref == other else "body differs"
    if isinstance(ref, dict) and "title" in ref:
        return None if ref["title"] == other.get("title") else f"title {other.get('title')!r} != {ref['title']!r}"
    return None if ref == other else "body differs"


def main():
    scenario, args = sys.argv[1], sys.argv[2:]
    targets = [args[i:i + 3] for i in range(0, len(args), 3)]
    answers, shown, failed = [], [], False
    for target, url, header in targets:
        status, body = fetch(url, header)
        shown.append(f"{target} {status} {len(body)} B")
        if status != 200:
            failed = True
            print(f"bench_check: {scenario}: {target} answered {status}: {body[:300]!r}", file=sys.stderr)
        try:
            answers.append((target, json.loads(body)))
        except ValueError:
            answers.append((target, body))
    problems = []
    if not failed:
        reference = answers[0][1]
        for target, answer in answers[1:]:
            problem = compare(scenario, target, reference, answer)
            if problem:
                problems.append(f"{target}: {problem}")
    verdict = "MISMATCH " + "; ".join(problems) if problems else "same"
    print(f"{scenario}: {', '.join(shown)}: {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
