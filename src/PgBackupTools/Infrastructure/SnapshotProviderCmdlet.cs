using System.Collections;
using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Snapshots;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// The parameters that say which cloud's snapshots a *-PgVolumeSnapshot cmdlet works on, and where its API is.
/// Credentials are not parameters: each SDK's own chain finds them (AWS env/profile/role, GCP application default
/// credentials, Azure DefaultAzureCredential), and they never appear in output or verbose messages.
/// </summary>
public abstract class SnapshotProviderCmdlet : PgRepositoryCmdlet
{
    /// <summary>Aws (EBS), Gcp (persistent disks) or Azure (managed disks).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SnapshotProvider? Provider { get; set; }

    /// <summary>AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    /// <summary>The provider API's endpoint URL (private endpoints, tests).</summary>
    [Parameter]
    [Alias("EndpointUrl")]
    [ValidateNotNullOrEmpty]
    public string? Endpoint { get; set; }

    /// <summary>AWS shared-credentials profile.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    /// <summary>GCP project.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Project { get; set; }

    /// <summary>Azure subscription of the snapshots.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SubscriptionId { get; set; }

    /// <summary>Azure resource group of the snapshots.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ResourceGroup { get; set; }

    /// <summary>The target the parameters name; what they leave out comes from <paramref name="from"/> (a piped snapshot knows where it lives).</summary>
    protected SnapshotTarget Target(PgVolumeSnapshot? from = null, string? zone = null) => new()
    {
        Provider = Provider ?? from?.Provider ?? throw new PSArgumentException("Give -Provider Aws, Gcp or Azure."),
        Region = Region ?? from?.Region,
        Endpoint = Endpoint ?? from?.Endpoint,
        ProfileName = ProfileName,
        Project = Project ?? from?.Project,
        Zone = zone,
        SubscriptionId = SubscriptionId,
        ResourceGroup = ResourceGroup,
    };

    protected static Dictionary<string, string> ToTags(Hashtable? tags)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in tags ?? new Hashtable())
        {
            string key = e.Key?.ToString() ?? "";
            if (key.StartsWith("pgbt-", StringComparison.Ordinal))
                throw new PgBackupException(FailureKind.InvalidArgument, $"Tag '{key}': keys starting with pgbt- are this module's own.", key);
            result[key] = e.Value?.ToString() ?? "";
        }
        return result;
    }
}
