// The code editor as screens use it: CodeMirror is a chunk of its own, fetched the first time an
// editor is shown (entry editor, policy, schema), never with the first page. Until it arrives a
// plain read-only text block holds the place.
import { lazy, Suspense } from 'react';
import type { CodeEditorProps } from './CodeEditor.js';

const Editor = lazy(async () => ({ default: (await import('./CodeEditor.js')).CodeEditor }));

export type { CodeDiagnostic, CodeEditorProps } from './CodeEditor.js';

export function CodeEditor(props: CodeEditorProps) {
  return (
    <Suspense fallback={<pre className="code-editor code-editor-loading">{props.value}</pre>}>
      <Editor {...props} />
    </Suspense>
  );
}
