// Text from Flipt's pod template as a condition message shows it: the message is written to every
// client of the target, and Kubernetes bounds neither a variable's name nor a path.

/** At most 100 characters of one name or path. */
export function shown(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/** At most three entries (each once: two settings may name the same variable), then how many more. */
export function listed(entries: readonly string[], separator: string): string {
  const items = [...new Set(entries)];
  const first = items.slice(0, 3).join(separator);
  return items.length > 3 ? `${first}${separator}and ${items.length - 3} more` : first;
}
