/** Entry point: connect the list to the API, mount the app and start the live feed. */
import { render } from 'preact';
import { fetchWindow } from './api.js';
import { App } from './app.js';
import { flows } from './flows.js';
import { live } from './live.js';
import { autoScroll } from './state.js';

const root = document.getElementById('app');
if (root) {
  flows.setSource(fetchWindow);
  // A list sorted when the page was left reopens at its top, not following new flows.
  if (flows.sort.value !== null) autoScroll.value = false;
  render(<App />, root);
  live.start();
}
