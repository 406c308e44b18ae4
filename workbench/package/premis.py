"""PREMIS 3 events and agents for one carrier, as XML (namespace
http://www.loc.gov/premis/v3). Element order follows the PREMIS 3 schema; a test checks
the documents against tests/premis-subset.xsd, a schema for the part of PREMIS we write.

A carrier's original computing environment (emulation readiness) is a PREMIS 3
environment: an intellectual entity with environmentFunction, environmentDesignation and
an environmentExtension in the workbench's namespace (emulators, boot facts); the image
object requires it (relationship dependency/requires, purpose render).

Event types use the Library of Congress vocabulary (id.loc.gov/vocabulary/preservation/
eventType): capture, message digest calculation, fixity check, format identification,
validation, packing, replication.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from workbench.carrier_info import CONDITION_LIST, CarrierTags
from workbench.i18n import t

NS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WB = "urn:x-migration-workbench:emulation:1"
ET.register_namespace("premis", NS)
ET.register_namespace("xsi", XSI)
ET.register_namespace("wb", WB)
_ID_SPACE = uuid.UUID("6f1c1f0e-7d0e-4b59-9c59-5a8b8d1e0c11")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        child.text = text
    return child


def _identifier(parent: ET.Element, tag: str, kind: str, value: str) -> ET.Element:
    """PREMIS's identifier pattern: <tag><tagType/><tagValue/></tag>."""
    element = _el(parent, tag)
    _el(element, f"{tag}Type", kind)
    _el(element, f"{tag}Value", value)
    return element


@dataclass(frozen=True)
class Agent:
    kind: str  # software | hardware | person | organization
    name: str
    version: str = ""

    @property
    def identifier(self) -> str:
        return str(uuid.uuid5(_ID_SPACE, f"agent|{self.kind}|{self.name}|{self.version}"))


@dataclass(frozen=True)
class Event:
    kind: str
    when: str  # ISO 8601
    outcome: str  # success | partial | failure
    detail: str = ""
    outcome_note: str = ""
    agents: tuple[tuple[Agent, str], ...] = ()  # (agent, role)
    objects: tuple[str, ...] = ()  # object identifiers

    @property
    def identifier(self) -> str:
        return str(uuid.uuid5(_ID_SPACE, f"event|{self.kind}|{self.when}|{self.objects}|"
                              f"{self.detail}"))


@dataclass
class PremisObject:
    identifier: str
    original_name: str
    size: int
    digests: dict[str, str]
    format_name: str = ""
    puid: str = ""
    requires: tuple[str, ...] = ()  # identifiers of environments needed to render it


@dataclass
class PremisEnvironment:
    """An environment (PREMIS 3: an intellectual entity). functions: (type, level) from the
    LoC environmentFunctionType vocabulary; extension: workbench elements (name, text,
    attributes) under environmentExtension."""
    identifier: str
    name: str
    functions: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    extension: tuple[tuple[str, str, dict[str, str]], ...] = ()


@dataclass
class PremisEntity:
    """The carrier itself (an intellectual entity): its identifiers (the item ID, the
    catalogue record) and significant properties (title, volume, condition)."""
    identifier: str
    other_ids: tuple[tuple[str, str], ...] = ()  # (type, value)
    properties: tuple[tuple[str, str], ...] = ()  # (significantPropertiesType, value)


@dataclass
class PremisDocument:
    objects: list[PremisObject] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    environments: list[PremisEnvironment] = field(default_factory=list)
    entities: list[PremisEntity] = field(default_factory=list)

    def agents(self) -> list[Agent]:
        seen: dict[str, Agent] = {}
        for event in self.events:
            for agent, _ in event.agents:
                seen.setdefault(agent.identifier, agent)
        return list(seen.values())

    def to_xml(self) -> bytes:
        root = ET.Element(f"{{{NS}}}premis", {"version": "3.0"})
        for obj in self.objects:
            o = _el(root, "object", **{f"{{{XSI}}}type": "premis:file"})
            _identifier(o, "objectIdentifier", "local", obj.identifier)
            chars = _el(o, "objectCharacteristics")
            _el(chars, "compositionLevel", "0")
            for algorithm, digest in sorted(obj.digests.items()):
                fixity = _el(chars, "fixity")
                _el(fixity, "messageDigestAlgorithm", {"md5": "MD5", "sha1": "SHA-1",
                                                       "sha256": "SHA-256",
                                                       "sha512": "SHA-512"}[algorithm])
                _el(fixity, "messageDigest", digest)
                _el(fixity, "messageDigestOriginator", "migration workbench")
            _el(chars, "size", str(obj.size))
            fmt = _el(chars, "format")
            designation = _el(fmt, "formatDesignation")
            _el(designation, "formatName", obj.format_name or "unknown")
            if obj.puid:
                registry = _el(fmt, "formatRegistry")
                _el(registry, "formatRegistryName", "PRONOM" if not obj.puid.startswith(
                    "wb-") else "migration workbench local formats")
                _el(registry, "formatRegistryKey", obj.puid)
            _el(o, "originalName", obj.original_name)
            for env_id in obj.requires:
                rel = _el(o, "relationship")
                _el(rel, "relationshipType", "dependency")
                _el(rel, "relationshipSubType", "requires")
                _identifier(rel, "relatedObjectIdentifier", "local", env_id)
                _el(rel, "relatedEnvironmentPurpose", "render")
        for entity in self.entities:
            o = _el(root, "object", **{f"{{{XSI}}}type": "premis:intellectualEntity"})
            _identifier(o, "objectIdentifier", "local", entity.identifier)
            for kind, value in entity.other_ids:
                _identifier(o, "objectIdentifier", kind, value)
            for kind, value in entity.properties:
                prop = _el(o, "significantProperties")
                _el(prop, "significantPropertiesType", kind)
                _el(prop, "significantPropertiesValue", value)
        for env in self.environments:
            self._environment(root, env)
        for event in self.events:
            e = _el(root, "event")
            _identifier(e, "eventIdentifier", "UUID", event.identifier)
            _el(e, "eventType", event.kind)
            _el(e, "eventDateTime", event.when)
            if event.detail:
                _el(_el(e, "eventDetailInformation"), "eventDetail", event.detail)
            info = _el(e, "eventOutcomeInformation")
            _el(info, "eventOutcome", event.outcome)
            if event.outcome_note:
                _el(_el(info, "eventOutcomeDetail"), "eventOutcomeDetailNote",
                    event.outcome_note)
            for agent, role in event.agents:
                link = _identifier(e, "linkingAgentIdentifier", "UUID", agent.identifier)
                _el(link, "linkingAgentRole", role)
            for object_id in event.objects:
                _identifier(e, "linkingObjectIdentifier", "local", object_id)
        for agent in self.agents():
            a = _el(root, "agent")
            _identifier(a, "agentIdentifier", "UUID", agent.identifier)
            _el(a, "agentName", agent.name)
            _el(a, "agentType", agent.kind)
            if agent.version:
                _el(a, "agentVersion", agent.version)
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"

    @staticmethod
    def _environment(root: ET.Element, env: PremisEnvironment) -> None:
        o = _el(root, "object", **{f"{{{XSI}}}type": "premis:intellectualEntity"})
        _identifier(o, "objectIdentifier", "local", env.identifier)
        for kind, level in env.functions:
            function = _el(o, "environmentFunction")
            _el(function, "environmentFunctionType", kind)
            _el(function, "environmentFunctionLevel", level)
        designation = _el(o, "environmentDesignation")
        _el(designation, "environmentName", env.name)
        for note in env.notes:
            _el(designation, "environmentDesignationNote", note)
        if env.extension:
            extension = _el(o, "environmentExtension")
            holder = ET.SubElement(extension, f"{{{WB}}}emulation")
            for tag, text, attrs in env.extension:
                ET.SubElement(holder, f"{{{WB}}}{tag}", attrs).text = text


@dataclass
class Described:
    """The PREMIS of a carrier's description: the carrier entity, its photos as file
    objects, and the condition assessment and photography events."""
    entities: list[PremisEntity] = field(default_factory=list)
    objects: list[PremisObject] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def described_in_premis(carrier: CarrierTags | None, imaging_operator: str) -> Described:
    """Event types: "condition assessment" is the workbench's own (the LoC vocabulary
    has none for looking at a carrier; PREMIS allows local types), "creation" (LoC) for
    the photographs made. The agent is the operator who described the carrier."""
    if carrier is None:
        return Described()
    info = carrier.info
    operator = info.operator or imaging_operator
    people = ((Agent("person", operator), "implementer"),) if operator else ()
    props = [("catalogue record", info.record_id), ("title", info.title),
             ("volume", info.bag_count)]
    props += [("condition", f"{c}: {t(f'condition.{c}', lang='en')}")
              for c in info.conditions]
    props.append(("condition note", info.condition_note))
    entity = PremisEntity(info.item_id, (("catalogue record", info.record_id),)
                          if info.record_id else (),
                          tuple((k, v) for k, v in props if v))
    photos = [PremisObject(f"{info.item_id}/metadata/photos/{p.name}", p.source or p.name,
                           p.size, {"sha256": p.sha256},
                           p.format if p.format != "unknown" else "unknown image format")
              for p, _ in carrier.photos]
    events = []
    when = info.recorded or "1970-01-01T00:00:00Z"
    if info.conditions or info.condition_note:
        words = ", ".join(f"{c} ({t(f'condition.{c}', lang='en')})" for c in info.conditions)
        events.append(Event("condition assessment", when, "success",
                            f"condition of the carrier from the list {CONDITION_LIST}: "
                            f"{words or 'none listed'}", info.condition_note,
                            people, (info.item_id, *(p.identifier for p in photos))))
    if photos:
        cameras = tuple((Agent("hardware", f"camera: {c}"), "executing program")
                        for c in carrier.cameras)
        roles = ", ".join(sorted({p.role for p, _ in carrier.photos}))
        events.append(Event("creation", when, "success",
                            f"photographs of the carrier ({roles})", "",
                            (*people, *cameras), tuple(p.identifier for p in photos)))
    return Described([entity], photos, events)
