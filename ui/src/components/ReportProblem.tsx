// "Report a problem": the ticket form, prefilled when it starts from an asset.

import type { Fields, RecordT } from '../types';
import { Dialog } from './Dialog';
import { SchemaForm } from './SchemaForm';
import { useNotice } from './Notice';

const CATEGORY_OF: Record<string, string> = {
  printer: 'printer',
  'microform-reader': 'microform',
  network: 'network',
  scanner: 'hardware',
};

/** A ticket's starting fields for a problem with this asset. */
export function ticketFromAsset(asset: RecordT): Fields {
  return {
    asset: asset.id,
    branch: asset.fields.branch ?? null,
    category: CATEGORY_OF[String(asset.fields.category)] ?? 'hardware',
    urgency: 'normal',
  };
}

export function ReportProblem({
  initial,
  onClose,
  onSaved,
}: {
  initial: Fields;
  onClose: () => void;
  onSaved?: (r: RecordT) => void;
}) {
  const notice = useNotice();
  return (
    <Dialog title="Report a problem" onClose={onClose} testId="ticket-form">
      <SchemaForm
        kind="ticket"
        fields={['asset', 'branch', 'category', 'urgency', 'summary', 'description', 'reported_by']}
        initial={initial}
        labels={{ summary: 'What is wrong (one line)', reported_by: 'Reported by' }}
        autoFocus="summary"
        submitLabel="Open ticket"
        onCancel={onClose}
        onSaved={(r) => {
          notice.notify(`Ticket ${String(r.fields.number ?? '')} opened: ${String(r.fields.summary)}.`);
          onSaved?.(r);
          onClose();
        }}
      />
    </Dialog>
  );
}
