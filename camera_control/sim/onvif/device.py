"""The device service: the camera's identity, clock, scopes, and where its other services are."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from camera_control.sim.onvif.envelope import NS, TDS, TEV, TPTZ, TRT, Call, Handler, SoapFault, escaped, not_supported
from camera_control.sim.onvif.events import EVENT_CAPABILITIES
from camera_control.sim.onvif.media import MEDIA_CAPABILITIES
from camera_control.sim.onvif.ptz import PTZ_CAPABILITIES

if TYPE_CHECKING:
    from camera_control.sim.onvif.service import OnvifService

# hikvision-platform-ptz/GetCapabilities.xml, with what the simulator really supports.
_DEVICE_CAPABILITY = (
    "<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr>"
    "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
    "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
    "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye>"
    "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
    "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
    "<tt:SupportedVersions><tt:Major>16</tt:Major><tt:Minor>12</tt:Minor></tt:SupportedVersions>"
    "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>"
    "<tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO>"
    "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
    "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>"
    "<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
    "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>"
)
_EVENTS_CAPABILITY = (
    "<tt:Events><tt:XAddr>{base}/onvif/events_service</tt:XAddr>"
    "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
    "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
    "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
    "</tt:Events>"
)
_MEDIA_CAPABILITY = (
    "<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr>"
    "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
    "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities>"
    "<tt:Extension><tt:ProfileCapabilities><tt:MaximumNumberOfProfiles>{profiles}</tt:MaximumNumberOfProfiles>"
    "</tt:ProfileCapabilities></tt:Extension></tt:Media>"
)


def _date_time(moment: datetime.datetime) -> str:
    return (
        f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}</tt:Minute>"
        f"<tt:Second>{moment.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month><tt:Day>{moment.day}</tt:Day></tt:Date>"
    )


class DeviceService:
    """The device endpoint's operations."""

    def __init__(self, camera: OnvifService) -> None:
        self._camera = camera

    def operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TDS, "GetSystemDateAndTime"): self._get_system_date_and_time,
            (TDS, "GetDeviceInformation"): self._get_device_information,
            (TDS, "GetServices"): self._get_services,
            (TDS, "GetCapabilities"): self._get_capabilities,
            (TDS, "GetServiceCapabilities"): self._get_device_service_capabilities,
            (TDS, "GetScopes"): self._get_scopes,
            (TDS, "GetHostname"): self._get_hostname,
            (TDS, "GetNetworkInterfaces"): self._get_network_interfaces,
            (TDS, "GetWsdlUrl"): self._get_wsdl_url,
        }

    async def _get_system_date_and_time(self, call: Call) -> str:
        utc = datetime.datetime.fromtimestamp(int(self._camera.state.camera_time()), datetime.UTC)
        local = utc + datetime.timedelta(hours=8)  # the hall is in China Standard Time, no daylight saving
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{_date_time(utc)}</tt:UTCDateTime><tt:LocalDateTime>{_date_time(local)}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    async def _get_device_information(self, call: Call) -> str:
        return (
            "<tds:GetDeviceInformationResponse>"
            f"<tds:Manufacturer>{escaped(self._camera.manufacturer)}</tds:Manufacturer><tds:Model>{escaped(self._camera.model)}</tds:Model>"
            f"<tds:FirmwareVersion>{escaped(self._camera.firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escaped(self._camera.serial)}</tds:SerialNumber><tds:HardwareId>{escaped(self._camera.hardware_id)}</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _service_list(self) -> list[tuple[str, str, tuple[int, int], str]]:
        """(namespace, path, version, capabilities element) of each service, in Hikvision's order."""
        services = [
            (TDS, "/onvif/device_service", (16, 12), self._device_capabilities_element()),
            (TRT, "/onvif/media_service", (2, 60), MEDIA_CAPABILITIES.format(profiles=len(self._camera.streams))),
        ]
        if self._camera.events_supported:
            services.append((TEV, "/onvif/events_service", (2, 60), EVENT_CAPABILITIES))
        if self._camera.state.ptz:
            services.append((TPTZ, "/onvif/ptz_service", (16, 12), PTZ_CAPABILITIES))
        return services

    async def _get_services(self, call: Call) -> str:
        if not self._camera.services_supported:
            raise not_supported()  # like cameras older than ONVIF 2.0: clients fall back to GetCapabilities
        with_capabilities = call.flag("tds:IncludeCapability", False)
        entries = []
        for namespace, path, (major, minor), capabilities in self._service_list():
            wrapped = f"<tds:Capabilities>{capabilities}</tds:Capabilities>" if with_capabilities else ""
            entries.append(
                f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace><tds:XAddr>{call.base_url}{path}</tds:XAddr>"
                f"{wrapped}<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
                "</tds:Service>"
            )
        return f"<tds:GetServicesResponse>{''.join(entries)}</tds:GetServicesResponse>"

    async def _get_capabilities(self, call: Call) -> str:
        asked = {element.text.strip() for element in call.operation.findall("tds:Category", NS) if element.text}
        if not asked or "All" in asked:
            asked = {"Device", "Events", "Media", "PTZ"}
        sections = {
            "Device": _DEVICE_CAPABILITY.format(base=call.base_url),
            "Events": _EVENTS_CAPABILITY.format(base=call.base_url) if self._camera.events_supported else "",
            "Media": _MEDIA_CAPABILITY.format(base=call.base_url, profiles=len(self._camera.streams)),
            "PTZ": f"<tt:PTZ><tt:XAddr>{call.base_url}/onvif/ptz_service</tt:XAddr></tt:PTZ>"
            if self._camera.state.ptz
            else "",
        }
        chosen = [sections.get(category, "") for category in ("Device", "Events", "Media", "PTZ") if category in asked]
        if not any(chosen) or asked - sections.keys():
            raise SoapFault(
                "The requested service is not supported",
                "ter:ActionNotSupported",
                "ter:NoSuchService",
                code="env:Receiver",
            )
        capabilities = "".join(chosen)
        return (
            f"<tds:GetCapabilitiesResponse><tds:Capabilities>{capabilities}</tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>"
        )

    def _device_capabilities_element(self) -> str:
        return (
            "<tds:Capabilities>"
            '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false"'
            ' Dot11Configuration="false" HostnameFromDHCP="false" NTP="0"/>'
            '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false"'
            ' AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false"'
            ' X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="false"'
            ' RELToken="false" MaxUsers="1"/>'
            '<tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false" SystemBackup="false"'
            ' SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false"'
            ' HttpSystemLogging="false" HttpSupportInformation="false"/>'
            "</tds:Capabilities>"
        )

    async def _get_device_service_capabilities(self, call: Call) -> str:
        capabilities = self._device_capabilities_element()
        return f"<tds:GetServiceCapabilitiesResponse>{capabilities}</tds:GetServiceCapabilitiesResponse>"

    async def _get_scopes(self, call: Call) -> str:
        configurable = ("/name/", "/location/")
        entries = "".join(
            f"<tds:Scopes><tt:ScopeDef>{'Configurable' if any(part in scope for part in configurable) else 'Fixed'}"
            f"</tt:ScopeDef><tt:ScopeItem>{escaped(scope)}</tt:ScopeItem></tds:Scopes>"
            for scope in self._camera.scopes
        )
        return f"<tds:GetScopesResponse>{entries}</tds:GetScopesResponse>"

    async def _get_hostname(self, call: Call) -> str:
        return (
            "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
            f"<tt:Name>{escaped(self._camera.serial.lower())}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
        )

    async def _get_network_interfaces(self, call: Call) -> str:
        mac = ":".join(["02", *(self._camera.serial.encode().hex()[-10:][i : i + 2] for i in range(0, 10, 2))])
        return (
            '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>'
            f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
            "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>"
            f"<tt:Manual><tt:Address>{escaped(call.host)}</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>"
            "<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
        )

    async def _get_wsdl_url(self, call: Call) -> str:
        return "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/</tds:WsdlUrl></tds:GetWsdlUrlResponse>"
