using System.Management.Automation;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// Lets every -Repository parameter (a string, so paths, URLs, tab completion and pipeline binding by property name keep
/// working) also take a PgRepository from New-PgRepository: its options are remembered for its location in this
/// process (in memory only), and the parameter gets the location string, which is what PgBackup.Repository holds.
/// A PgBackup piped later into Test-PgBackup or Restore-PgDatabase finds the same options again by its location.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class RepositoryTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject ps ? ps.BaseObject : inputData;
        return value is PgRepository repository ? ObjectStoreFactory.Register(repository) : inputData;
    }
}
