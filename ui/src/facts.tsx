/** Two-column "label: value" tables used by the TLS and certificate views. */
import type { ComponentChildren } from 'preact';

export function Row({ label, children, alarm }: { label: string; children: ComponentChildren; alarm?: boolean }) {
  return (
    <tr class={alarm ? 'alarm' : undefined}>
      <th scope="row">{label}</th>
      <td>{children}</td>
    </tr>
  );
}

export function Facts({ children }: { children: ComponentChildren }) {
  return (
    <table class="facts">
      <tbody>{children}</tbody>
    </table>
  );
}
