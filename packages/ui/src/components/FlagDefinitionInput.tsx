// The flag definition's text field, behind one small interface so that the shared code editor can
// take its place without touching the flag editor (a plain textarea until then).
export function FlagDefinitionInput(props: {
  value: string;
  onChange: (text: string) => void;
  invalid: boolean;
  readOnly: boolean;
}) {
  return (
    <textarea
      className={`code editor-text flag-definition ${props.invalid ? 'invalid' : ''}`}
      rows={Math.min(24, Math.max(8, props.value.split('\n').length + 1))}
      value={props.value}
      spellCheck={false}
      readOnly={props.readOnly}
      aria-invalid={props.invalid}
      onChange={(event) => props.onChange(event.target.value)}
      aria-label="Flag definition"
    />
  );
}
