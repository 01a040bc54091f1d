// The labs' styles, applied inside each element's shadow root only: a host page's stylesheet
// cannot reach in, and these rules cannot reach out. Every colour is explicit (text *and*
// background) so a host theme — dark `pre` blocks, inherited white text — cannot make the labs'
// text invisible. The layout flows down to 320 px wide without sideways scrolling.

const BASE = `
:host {
  display: block;
  box-sizing: border-box;
  color: #1d1d1f;
  background: #ffffff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  text-align: left;
  min-width: 0;
  max-width: 100%;
  overflow-x: hidden;
  --accent: #1f6fd1;
  --muted: #5f6368;
  --line: #d9dce1;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: border-box; }
.root { padding: 8px 12px 16px; max-width: 1100px; margin: 0 auto; }
h2 { font-size: 1.15em; margin: 0.3em 0; color: #1d1d1f; }
h3 { font-size: 0.95em; margin: 0.9em 0 0.3em; color: var(--muted); font-weight: 600; }
p { margin: 0.3em 0; }
.sub, .muted { color: var(--muted); }
section { border-top: 1px solid var(--line); padding: 8px 0; }
label { color: #1d1d1f; }
input, select, textarea, button {
  font: inherit; color: #1d1d1f; background: #ffffff; border: 1px solid #b8bcc4; border-radius: 3px;
  max-width: 100%;
}
input[type="range"] { border: 0; background: transparent; padding: 0; accent-color: var(--accent); }
input[type="text"], input[type="url"], input[type="number"], select, textarea { padding: 2px 6px; }
button { padding: 3px 12px; cursor: pointer; background: #f3f4f6; }
button:hover { background: #e7e9ec; }
button:disabled { cursor: default; color: #8a8f98; }
output { display: inline-block; min-width: 3.5em; font-variant-numeric: tabular-nums; color: #1d1d1f; }
[hidden] { display: none !important; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 230px), 1fr)); gap: 6px 16px; }
.field { display: flex; flex-direction: column; min-width: 0; }
.field > span { font-size: 0.85em; color: var(--muted); }
.field .row { display: flex; align-items: center; gap: 6px; min-width: 0; }
.field .row input[type="range"] { flex: 1 1 auto; min-width: 0; }
.info { color: var(--muted); font-size: 0.88em; min-height: 1.3em; overflow-wrap: anywhere; }
.box-error {
  position: relative; background: #fdecea; border: 1px solid #e0a39b; color: #7a1c12;
  border-radius: 4px; padding: 8px 36px 8px 12px; margin: 8px 0;
}
.box-error p { margin: 4px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; color: #7a1c12; }
.box-error .dismiss { position: absolute; top: 4px; right: 4px; border: 0; background: none; color: #7a1c12; font-size: 1.2em; }
.box-note { background: #fff8e1; border: 1px solid #e6cf84; color: #5c4400; border-radius: 4px; padding: 6px 10px; margin: 6px 0; overflow-wrap: anywhere; }
.box-note button { margin: 4px 6px 0 0; }
progress { width: min(22em, 100%); vertical-align: middle; accent-color: var(--accent); }
.progress-label { font-size: 0.88em; color: var(--muted); overflow-wrap: anywhere; }
pre.gen {
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 0;
  font: 14px/1.45 ui-monospace, "SFMono-Regular", Menlo, monospace;
  color: #1d1d1f; background: #f6f7f9; border: 1px solid var(--line); border-radius: 4px;
  padding: 8px 10px; min-height: 4.5em; max-height: 24em; overflow-y: auto;
}
pre.gen.stale { color: #6b6f76; }
table { border-collapse: collapse; font-size: 0.85em; margin-top: 8px; color: #1d1d1f; background: #ffffff; }
th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 600; }
tr.precomputed td { color: #6b6f76; font-style: italic; }
.table-wrap { max-width: 100%; overflow-x: auto; }
.cols { display: flex; gap: 20px; flex-wrap: wrap; }
.cols > * { flex: 1 1 300px; min-width: 0; }
svg.plot { width: 100%; height: auto; display: block; background: #ffffff; }
.exports { display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0; }
.exports button { padding: 1px 8px; font-size: 0.85em; }
details > summary { cursor: pointer; color: var(--accent); }
details[open] { padding-bottom: 4px; }
.badge { display: inline-block; font-size: 0.78em; padding: 0 6px; border-radius: 8px; background: #eef1f6; color: #394150; }
.badge.pre { background: #fff3cd; color: #5c4400; }
fieldset { border: 1px solid var(--line); margin: 8px 0; padding: 6px 10px; min-width: 0; }
legend { color: var(--muted); }
.panels > * { margin-top: 10px; }
@media (max-width: 480px) {
  :host { font-size: 14px; }
  .root { padding: 6px 6px 12px; }
  th, td { padding: 2px 4px; }
}
`;

/** The stylesheet of both labs (one constructed sheet shared by every shadow root where the
 *  browser can adopt sheets; a <style> element elsewhere). */
/** @type {CSSStyleSheet | null} */
let sheet = null;

/** @param {ShadowRoot} root */
export function applyStyles(root) {
  if (!sheet && typeof CSSStyleSheet === 'function' && 'adoptedStyleSheets' in Document.prototype) {
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(BASE);
    } catch {
      sheet = null;
    }
  }
  if (sheet) root.adoptedStyleSheets = [sheet];
  else {
    const style = document.createElement('style');
    style.textContent = BASE;
    root.append(style);
  }
}
