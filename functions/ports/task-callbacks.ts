/** Answers a workflow step that waits for a task token (Step Functions `.waitForTaskToken`). */
export interface TaskCallbacks {
  succeed(taskToken: string, output: Record<string, unknown>): Promise<void>;
  /** `error` becomes the Step Functions error name a Catch matches. */
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}
