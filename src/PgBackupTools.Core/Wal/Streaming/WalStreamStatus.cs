using PgBackupTools.Core.Backup;

namespace PgBackupTools.Core.Wal.Streaming;

/// <summary>Turns a stream's state (wal/&lt;stanza&gt;/stream.json) into the object the cmdlets write.</summary>
public static class WalStreamStatus
{
    public static PgWalStreamStatus From(WalArchive archive, WalStreamState? state, int? processId = null)
    {
        var status = new PgWalStreamStatus { Repository = archive.Repository.Store.Location, Stanza = archive.Stanza, ProcessId = processId };
        if (state is null) return status;
        status.FlushLsn = state.FlushLsn;
        status.Timeline = state.Timeline;
        status.Segment = state.Segment;
        status.ServerLsn = state.ServerLsn;
        status.Updated = state.Updated;
        status.Slot = state.Slot;
        status.ApplicationName = state.ApplicationName;
        status.Synchronous = state.Synchronous;
        status.Server = state.Server;
        if (state.ServerLsn is { } server && state.FlushLsn.Length > 0)
            status.LagBytes = Lsn.BytesAfter(server, state.FlushLsn);
        return status;
    }
}
