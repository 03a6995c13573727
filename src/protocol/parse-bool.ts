/**
 * Go's strconv.ParseBool, which the agent applies to separateOutputStream (through
 * parameters.ConvertToBool, agent/framework/docparser/parameters/parameters.go; an empty
 * value is false there). Undefined for what Go rejects.
 */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}
