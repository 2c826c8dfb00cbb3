// Validates an AsyncAPI document with the official parser and prints its diagnostics as JSON.
// Usage: node check.mjs FILE  -> {"errors": [...], "warnings": [...], "others": [...]}
// Exit code 0 when the document parsed with no error and no warning, 1 otherwise.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node check.mjs FILE");
  process.exit(2);
}
const text = await readFile(path, "utf8");
const { document, diagnostics } = await new Parser().parse(text);
const brief = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const report = {
  parsed: document !== undefined,
  errors: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(brief),
  warnings: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(brief),
  others: diagnostics.filter((d) => d.severity > DiagnosticSeverity.Warning).map(brief),
};
console.log(JSON.stringify(report, null, 2));
process.exit(report.parsed && !report.errors.length && !report.warnings.length ? 0 : 1);
