/** A managed cluster's own failover (Aurora): the service picks and promotes a reader; endpoints follow the writer. */
export interface ClusterFailover {
  /** The instance that is the cluster's writer now. */
  currentWriter(clusterId: string): Promise<string>;
  /**
   * Moves the writer away from `fromWriter` and waits until another instance is the writer of an
   * available cluster; returns that instance. Idempotent: a failover already done or running is not
   * started again, so a retried step only waits. Throws NodeNotReadyError when the wait runs out.
   */
  failover(clusterId: string, fromWriter: string): Promise<string>;
}
