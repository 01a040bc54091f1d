// The iframe page (embed.html): one or both labs, their state in this frame's own hash, and the
// frame's height posted to the parent whenever it changes, so the host's iframe fits its content.
import '../steerscope.js';

const which = new URLSearchParams(location.search).get('lab') || 'steer';
/** @param {string} tag @param {string} prefix */
const lab = (tag, prefix) => {
  const el = document.createElement(tag);
  el.setAttribute('url-state', prefix); // before it connects: it reads the hash on connecting
  document.body.append(el);
};
if (which === 'steer' || which === 'both') lab('steer-lab', '');
if (which === 'attention' || which === 'both') lab('attention-lab', 'lab.');
if (!document.body.children.length) {
  const p = document.createElement('p');
  p.textContent = `unknown lab ${JSON.stringify(which.slice(0, 40))}: use ?lab=steer, ?lab=attention or ?lab=both`;
  document.body.append(p);
}

let last = 0;
const report = () => {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (height !== last && window.parent !== window) {
    last = height;
    window.parent.postMessage({ type: 'steerscope:height', height }, '*');
  }
};
new ResizeObserver(report).observe(document.documentElement);
report();
