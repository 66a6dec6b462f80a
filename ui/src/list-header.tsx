/**
 * The flow table's header: a click on a sortable column sorts the list by it on the server
 * (ascending, descending, arrival order), and dragging a column's right edge resizes it; a
 * double-click on the edge gives back its default width. Both choices are remembered.
 */
import { COLUMNS, nextSort, saveSort, setColumnWidth, type Column } from './columns.js';
import { flows } from './flows.js';
import { autoScroll } from './state.js';

function startResize(e: PointerEvent, key: Column['key']): void {
  const handle = e.currentTarget as HTMLElement;
  const cell = handle.parentElement;
  if (!cell) return;
  e.preventDefault();
  e.stopPropagation();
  const startX = e.clientX;
  const startWidth = cell.getBoundingClientRect().width;
  handle.setPointerCapture(e.pointerId);
  const move = (ev: PointerEvent) => setColumnWidth(key, startWidth + ev.clientX - startX);
  const up = () => {
    handle.removeEventListener('pointermove', move);
    handle.removeEventListener('pointerup', up);
  };
  handle.addEventListener('pointermove', move);
  handle.addEventListener('pointerup', up);
}

export function ListHeader() {
  const sort = flows.sort.value;
  return (
    <div class="row head" role="row">
      {COLUMNS.map((c) => {
        const sorted = c.sort !== null && sort?.column === c.sort ? sort.order : null;
        return (
          <span key={c.key} class={`c-${c.key}`} role="columnheader" aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : 'none'}>
            {c.sort === null ? (
              c.label
            ) : (
              <button
                class="sort"
                title={`Sort by ${c.label.toLowerCase()}`}
                onClick={() => {
                  const next = nextSort(flows.sort.value, c.sort!);
                  saveSort(next);
                  // A sorted list opens at its top; tailing is for arrival order.
                  autoScroll.value = next === null;
                  flows.setSort(next);
                }}
              >
                {c.label}
                {sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ''}
              </button>
            )}
            <span
              class="col-resize"
              role="separator"
              aria-orientation="vertical"
              title="Drag to resize; double-click for the default width"
              onPointerDown={(e) => startResize(e, c.key)}
              onDblClick={() => setColumnWidth(c.key, null)}
            />
          </span>
        );
      })}
    </div>
  );
}
