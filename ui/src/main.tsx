/** Entry point: mount the app and start the live feed. */
import { render } from 'preact';
import { App } from './app.js';
import { live } from './live.js';

const root = document.getElementById('app');
if (root) {
  render(<App />, root);
  live.start();
}
