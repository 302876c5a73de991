namespace PgBackupTools.Core.Snapshots;

/// <summary>One provider (SDK client, credential) per <see cref="SnapshotTarget"/>, reused for a whole operation and disposed with it.</summary>
public sealed class SnapshotProviderPool : IDisposable
{
    private readonly Dictionary<SnapshotTarget, ISnapshotProvider> _providers = [];

    public ISnapshotProvider Get(SnapshotTarget target)
    {
        if (!_providers.TryGetValue(target, out var provider)) _providers[target] = provider = SnapshotProviders.Create(target);
        return provider;
    }

    /// <summary>The provider of the place <paramref name="snapshot"/> records it lives in (what a manifest knows).</summary>
    public ISnapshotProvider For(PgVolumeSnapshot snapshot) => Get(SnapshotTarget.Of(snapshot));

    public void Dispose()
    {
        foreach (var p in _providers.Values) p.Dispose();
        _providers.Clear();
    }
}
