// If a screen fails to draw, say so calmly and offer a way back instead of a blank window.

import { Component, type ReactNode } from 'react';

interface State {
  failed: boolean;
}

export class ErrorBoundary extends Component<{ children: ReactNode; onReset?: () => void }, State> {
  override state: State = { failed: false };

  static getDerivedStateFromError(): State {
    return { failed: true };
  }

  override componentDidCatch(error: unknown) {
    // Kept for whoever opens the developer console; staff see the sentence below.
    console.error(error);
  }

  override render() {
    if (!this.state.failed) return this.props.children;
    return (
      <div className="banner banner-bad" role="alert" style={{ margin: 18 }}>
        <p>This screen ran into a problem and could not be shown. Your saved work is safe.</p>
        <button
          type="button"
          onClick={() => {
            this.setState({ failed: false });
            this.props.onReset?.();
          }}
        >
          Try again
        </button>
      </div>
    );
  }
}
