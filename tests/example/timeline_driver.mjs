// Drives the frontend's Timeline (examples/chat/frontend/src/shared/timeline.js, the very module both pages
// bundle) with the operations read as JSON from stdin, and prints what a page would render after each "show".
//   ["begin"]                      -> starts a history load (its generation is remembered by its index)
//   ["finish", loadIndex, stored]  -> that load's answer arrives
//   ["live", kind, payload]        -> a live event (kind: created | chunk | completed | failed)
//   ["show"]                       -> records timeline.list() (without the bookkeeping fields)
import { Timeline } from "../../examples/chat/frontend/src/shared/timeline.js";

const input = await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (part) => (text += part));
  process.stdin.on("end", () => resolve(text));
});
const timeline = new Timeline();
const loads = [];
const shown = [];
for (const [op, ...args] of JSON.parse(input)) {
  if (op === "begin") loads.push(timeline.beginLoad());
  else if (op === "finish") timeline.finishLoad(loads[args[0]], args[1]);
  else if (op === "live") timeline.receive(args[0], args[1]);
  else if (op === "show") shown.push(timeline.list().map(({ id, status, content }) => ({ id, status, content })));
  else throw new Error(`unknown operation ${op}`);
}
console.log(JSON.stringify(shown));
