/** Entry point: connect the list to the API, mount the app and start the live feed. */
import { render } from 'preact';
import { fetchWindow } from './api.js';
import { App } from './app.js';
import { flows } from './flows.js';
import { live } from './live.js';

const root = document.getElementById('app');
if (root) {
  flows.setSource(fetchWindow);
  render(<App />, root);
  live.start();
}
