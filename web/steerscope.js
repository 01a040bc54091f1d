// steerscope in a web page: the promise-based client and the two custom elements.
//
//   <script type="module" src="steerscope.js"></script>
//   <steer-lab concept="pirate" layer="12" controls="layer strength text"></steer-lab>
//   <attention-lab></attention-lab>
//
// Importing this module defines <steer-lab> and <attention-lab> (once per page). Scripts that
// only need the client (or run without a DOM) import 'steerscope/client' (lib/client.js).
export { SteerScope, AttentionLab } from './lib/client.js';
export { SteerLab, registerPanel, CONTROLS, firstLines } from './lib/steer-lab.js';
export { AttentionLabElement, armSpec, describe } from './lib/attention-lab.js';
export { STEER_PROPS, LAB_PROPS } from './lib/state.js';
