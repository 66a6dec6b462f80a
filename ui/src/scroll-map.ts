/**
 * Browsers cap an element's height (Firefox near 17.9 million px, Chromium near 33.5 million);
 * a million 24 px rows is 24 million. Past `MAX_SCROLL_PX` the scroll range is compressed: the
 * scrollbar covers the list proportionally and rows are drawn at their place in the viewport,
 * so the last row is still reached at the bottom. Below it the mapping is the identity.
 */
export const MAX_SCROLL_PX = 10_000_000;

export interface ScrollMap {
  /** Height of the rows' container. */
  height: number;
  /** Virtual px per scrolled px (1 when the list fits). */
  ratio: number;
  /** Where in the full list (virtual px) the view's top is. */
  toVirtual(scrollTop: number): number;
  /** The scrollTop that puts virtual px `top` at the view's top. */
  toScroll(top: number): number;
}

export function scrollMap(rows: number, rowPx: number, viewPx: number): ScrollMap {
  const full = rows * rowPx;
  const height = Math.min(full, MAX_SCROLL_PX);
  const ratio = full <= MAX_SCROLL_PX || height <= viewPx ? 1 : (full - viewPx) / (height - viewPx);
  return {
    height,
    ratio,
    toVirtual: (scrollTop) => scrollTop * ratio,
    toScroll: (top) => top / ratio,
  };
}
