/**
 * Importing a HAR file (picker or drag-and-drop): the file goes to POST /api/har as is and the
 * imported flows arrive over the live feed like captured ones.
 */
import { ApiError, importHar } from './api.js';
import { formatCount } from './format.js';
import { notify } from './state.js';

export async function importHarFile(file: File): Promise<void> {
  try {
    const { imported } = await importHar(file);
    notify('info', `Imported ${formatCount(imported)} flow${imported === 1 ? '' : 's'} from ${file.name}.`);
  } catch (err) {
    const message = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
    notify('error', `Could not import ${file.name}: ${message}`);
  }
}

/** True when a drag carries files (not text or a link being dragged around the page). */
export function dragHasFiles(e: DragEvent): boolean {
  return e.dataTransfer !== null && Array.from(e.dataTransfer.types).includes('Files');
}
